package stick

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/exfat"
	"github.com/bty-lab/bty/bty/gpt"
)

// Grower grows BTY_IMAGES to the end of its stick on first boot: a stick
// written with dd has the ISO's 32 MiB partition and the rest of the stick
// unused behind it. exFAT cannot be grown in place (its FAT and bitmap are
// sized for the volume), so the files are read into memory, the partition
// is extended in both GPT copies, a new exFAT is made over it, and the files
// are written back.
type Grower struct {
	Disk      string // the stick, e.g. /dev/sda
	Partition string // BTY_IMAGES, e.g. /dev/sda2
	Number    int    // its partition number
	// Dir is a scratch mount point for the partition.
	Dir string
	// Mount and Unmount attach the partition's filesystem at Dir (the
	// kernel's exfat driver in the live environment).
	Mount   func(dev, dir string) error
	Unmount func(dir string) error
	// Resize makes the kernel see the partition's new extent; nil means
	// BLKPG_RESIZE_PARTITION on Disk.
	Resize func(start, length int64) error
	// Memory is how many bytes may be held in memory while the partition
	// is remade (MemAvailable, less headroom).
	Memory int64
	// Version is written into the sentinel.
	Version string
}

// GrowResult says what Grow did, as one console line after "usb-grow ".
type GrowResult struct {
	Grown   bool
	SizeMiB int64
	Why     string
}

func (r GrowResult) String() string {
	if r.Grown {
		return fmt.Sprintf("grew %s to %d MiB", ImagesLabel, r.SizeMiB)
	}
	return "skipped: " + r.Why
}

// Grow grows the partition if it holds no sentinel, it is the last one,
// and more than MinGrow bytes lie free behind it. Skipping is a result, not
// an error; an error means the grow failed, and says what state the
// partition is in.
func (g *Grower) Grow() (GrowResult, error) {
	disk, err := os.OpenFile(g.Disk, os.O_RDWR, 0)
	if err != nil {
		return GrowResult{}, fmt.Errorf("opening %s: %w", g.Disk, err)
	}
	defer disk.Close()
	size, err := disk.Seek(0, io.SeekEnd)
	if err != nil {
		return GrowResult{}, fmt.Errorf("sizing %s: %w", g.Disk, err)
	}
	sectors := uint64(size) / gpt.SectorSize
	table, err := gpt.Read(disk)
	if err != nil {
		return GrowResult{}, fmt.Errorf("reading %s's partition table: %w", g.Disk, err)
	}
	idx := g.Number - 1
	if idx < 0 || idx >= len(table.Partitions) {
		return GrowResult{}, fmt.Errorf("%s has no partition %d", g.Disk, g.Number)
	}
	if err := g.Mount(g.Partition, g.Dir); err != nil {
		return GrowResult{}, fmt.Errorf("mounting %s: %w", g.Partition, err)
	}
	mounted := true
	defer func() {
		if mounted {
			g.Unmount(g.Dir)
		}
	}()
	for _, s := range []struct{ name, why string }{
		{Grown, "grown before (" + Grown + " found)"},
		{GrowFailed, "an earlier grow was refused (" + GrowFailed + " found; delete it to try again)"},
	} {
		if _, err := os.Stat(filepath.Join(g.Dir, s.name)); err == nil {
			return GrowResult{Why: s.why}, nil
		}
	}
	if table.Last() != idx {
		return GrowResult{Why: ImagesLabel + " is not the last partition"}, nil
	}
	if free := int64(table.Free(idx, sectors)) * gpt.SectorSize; free <= MinGrow {
		return GrowResult{Why: fmt.Sprintf("%d MiB free behind %s, growing needs more than %d", free>>20, ImagesLabel, MinGrow>>20)}, nil
	}
	grown, err := table.Grow(idx, sectors, 2048)
	if err != nil {
		return GrowResult{}, err
	}
	files, total, err := readTree(g.Dir)
	if err != nil {
		return GrowResult{}, fmt.Errorf("reading %s before growing it (nothing was changed): %w", ImagesLabel, err)
	}
	if total > g.Memory {
		why := fmt.Sprintf("%s holds %d MiB, more than the %d MiB of memory that may hold it while the partition is remade; "+
			"move the files off the stick, boot once to grow it, then copy them back", ImagesLabel, total>>20, g.Memory>>20)
		if err := os.WriteFile(filepath.Join(g.Dir, GrowFailed), []byte(why+"\n"), 0o644); err != nil {
			return GrowResult{}, fmt.Errorf("refusing to grow (%s), and writing %s failed: %w", why, GrowFailed, err)
		}
		return GrowResult{}, errors.New("refused: " + why)
	}
	mounted = false
	if err := g.Unmount(g.Dir); err != nil {
		return GrowResult{}, fmt.Errorf("unmounting %s (nothing was changed): %w", g.Partition, err)
	}

	// From here on the files exist only in memory until written back.
	part := grown.Partitions[idx]
	serial, err := readSerial(g.Partition)
	if err != nil {
		return GrowResult{}, err
	}
	lost := func(err error) error {
		return fmt.Errorf("%w; the %d files %s held are lost: copy them onto it again", err, len(files), ImagesLabel)
	}
	if err := gpt.Write(disk, sectors, grown); err != nil {
		return GrowResult{}, fmt.Errorf("writing the grown partition table (the old one may be damaged; rewrite the stick): %w", err)
	}
	if err := disk.Sync(); err != nil {
		return GrowResult{}, err
	}
	newSize := int64(part.Sectors()) * gpt.SectorSize
	resize := g.Resize
	if resize == nil {
		resize = func(start, length int64) error { return resizePartition(disk, g.Number, start, length) }
	}
	if err := resize(int64(part.First)*gpt.SectorSize, newSize); err != nil {
		return GrowResult{}, fmt.Errorf("telling the kernel about the grown partition (the table on the stick is grown; reboot to use it): %w", err)
	}
	if err := format(g.Partition, newSize, exfat.Options{Label: ImagesLabel, Serial: serial, PartitionOffset: part.First}); err != nil {
		return GrowResult{}, lost(err)
	}
	if err := g.Mount(g.Partition, g.Dir); err != nil {
		return GrowResult{}, lost(fmt.Errorf("mounting the new filesystem: %w", err))
	}
	mounted = true
	if err := writeTree(g.Dir, files); err != nil {
		return GrowResult{}, fmt.Errorf("writing the files back: %w; some may be missing or short: check them", err)
	}
	note := fmt.Sprintf("grown to %d MiB by bty v%s\n", newSize>>20, g.Version)
	if err := os.WriteFile(filepath.Join(g.Dir, Grown), []byte(note), 0o644); err != nil {
		return GrowResult{}, err
	}
	unix.Sync()
	return GrowResult{Grown: true, SizeMiB: newSize >> 20}, nil
}

type treeFile struct {
	rel   string
	dir   bool
	data  []byte
	mtime time.Time
}

// readTree reads every file under root into memory, directories first.
func readTree(root string) ([]treeFile, int64, error) {
	var files []treeFile
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := treeFile{rel: rel, dir: d.IsDir(), mtime: info.ModTime()}
		if !d.IsDir() {
			if f.data, err = os.ReadFile(p); err != nil {
				return err
			}
			total += int64(len(f.data))
		}
		files = append(files, f)
		return nil
	})
	return files, total, err
}

// writeTree writes the files back, with their modification times, and
// flushes each to the stick.
func writeTree(root string, files []treeFile) error {
	for _, f := range files {
		p := filepath.Join(root, f.rel)
		if f.dir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		out, err := os.Create(p)
		if err != nil {
			return err
		}
		_, err = out.Write(f.data)
		err = errors.Join(err, out.Sync(), out.Close())
		if err != nil {
			return fmt.Errorf("%s: %w", f.rel, err)
		}
	}
	for i := len(files) - 1; i >= 0; i-- { // directories after their contents
		os.Chtimes(filepath.Join(root, files[i].rel), files[i].mtime, files[i].mtime)
	}
	return nil
}

// readSerial reads the volume serial of the exFAT on dev, so the grown
// filesystem keeps the identity the operator's OS knows it by.
func readSerial(dev string) (uint32, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, 0); err != nil {
		return 0, fmt.Errorf("reading %s's boot sector: %w", dev, err)
	}
	if string(b[3:11]) != "EXFAT   " {
		return 0, fmt.Errorf("%s holds no exFAT filesystem", dev)
	}
	return binary.LittleEndian.Uint32(b[100:]), nil
}

func format(dev string, size int64, o exfat.Options) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if got, err := f.Seek(0, io.SeekEnd); err != nil || got != size {
		f.Close()
		return fmt.Errorf("%s is %d bytes after resizing, not %d (%v)", dev, got, size, err)
	}
	err = exfat.Format(f, size, o)
	return errors.Join(err, f.Sync(), f.Close())
}

// resizePartition tells the kernel the partition's new extent. BLKPG works
// while other partitions of the disk are in use (the live medium is), where
// re-reading the whole table (BLKRRPART) would fail with EBUSY.
func resizePartition(disk *os.File, number int, start, length int64) error {
	p := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(number)}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_RESIZE_PARTITION, Datalen: int32(unsafe.Sizeof(p)), Data: (*byte)(unsafe.Pointer(&p))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, disk.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return errno
	}
	return nil
}
