package liveinit

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imageroot"
	"github.com/bty-lab/bty/bty/loopdev"
	"github.com/bty-lab/bty/bty/stick"
)

// USB mode (no fetch= on the command line): the live environment came from
// a stick, a CD, or an ISO file on a Ventoy-style stick. Mount points:
const (
	mediumDir  = "/run/bty-medium" // the ISO 9660 volume
	sticksDir  = "/run/bty-sticks" // FAT and exFAT partitions searched
	growDir    = "/run/bty-grow"   // BTY_IMAGES while it is grown
	mediumWait = 30 * time.Second  // USB sticks take seconds to enumerate
)

// blockDev is one block device as sysfs describes it.
type blockDev struct {
	Name     string // sda, sda2, sr0, vda1
	Parent   string // the disk of a partition, else ""
	Number   int    // the partition number, else 0
	PartName string // the GPT partition name, if any
}

func (b blockDev) Path() string { return "/dev/" + b.Name }

// blockDevs lists the machine's disks and partitions, skipping loop and RAM
// devices (bty's own mounts).
func blockDevs(sys string) []blockDev {
	entries, _ := os.ReadDir(filepath.Join(sys, "class/block"))
	var out []blockDev
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		d := blockDev{Name: n}
		dir := filepath.Join(sys, "class/block", n)
		if b, err := os.ReadFile(filepath.Join(dir, "partition")); err == nil {
			d.Number, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			if target, err := filepath.EvalSymlinks(dir); err == nil {
				d.Parent = filepath.Base(filepath.Dir(target))
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "uevent")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "PARTNAME="); ok {
					d.PartName = v
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// isoVolume returns the volume identifier and size of the ISO 9660 volume
// in r, or "" when r holds none.
func isoVolume(r io.ReaderAt) (id string, size int64) {
	pvd := make([]byte, 2048)
	if _, err := r.ReadAt(pvd, 16*2048); err != nil {
		return "", 0
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return "", 0
	}
	return strings.TrimRight(string(pvd[40:72]), " "), int64(binary.LittleEndian.Uint32(pvd[80:])) * 2048
}

func isoVolumeID(r io.ReaderAt) string {
	id, _ := isoVolume(r)
	return id
}

// fsType names the filesystem on dev from its first sector: "exfat",
// "vfat" or "".
func fsType(r io.ReaderAt) string {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil || b[510] != 0x55 || b[511] != 0xAA {
		return ""
	}
	switch {
	case string(b[3:11]) == "EXFAT   ":
		return "exfat"
	case strings.HasPrefix(string(b[54:62]), "FAT1"), string(b[82:87]) == "FAT32":
		return "vfat"
	}
	return ""
}

func readDev(dev string, f func(io.ReaderAt) string) string {
	file, err := os.Open(dev)
	if err != nil {
		return ""
	}
	defer file.Close()
	return f(file)
}

// USB holds what PrepareUSB found.
type USB struct {
	Medium string // where the ISO 9660 volume came from
	disk   string // the medium's disk, to prefer its BTY_IMAGES
	// stickMounts are FAT/exFAT partitions mounted while searching, by
	// device name; the image search reuses them.
	stickMounts map[string]string
}

// BootDisk is the kernel name of the disk the live system runs from (the
// stick, or the CD drive).
func (u *USB) BootDisk() string { return u.disk }

// PrepareUSB finds the live medium of this version and mounts its squashfs,
// grows and mounts BTY_IMAGES (or finds a bty-images folder), and prints
// the image root. It returns only when the live root is mounted.
func (i *Init) PrepareUSB(ctx context.Context, version string) *USB {
	u := &USB{stickMounts: map[string]string{}}
	want := stick.VolumeID(version)
	deadline := time.Now().Add(mediumWait)
	for {
		if err := i.findMedium(u, want); err == nil {
			break
		} else if time.Now().After(deadline) {
			i.say("%v; still looking (is the stick plugged in?)", err)
			deadline = time.Now().Add(mediumWait)
		}
		select {
		case <-ctx.Done():
			return u
		case <-time.After(250 * time.Millisecond):
		}
	}
	i.retry(ctx, "mounting the squashfs", func() error {
		return MountSquashfs(filepath.Join(mediumDir, stick.Squashfs), i.LiveDir)
	})
	i.say("live medium %s mounted", u.Medium)

	if err := os.MkdirAll(imageroot.Default, 0o755); err != nil {
		i.say("creating %s: %v", imageroot.Default, err)
	}
	if part, ok := u.imagesPartition(i.sys()); ok {
		// Operators may have reformatted it (Windows offers FAT32): a
		// FAT one is used as it is, never remade.
		fs := readDev(part.Path(), fsType)
		switch fs {
		case "exfat":
			i.grow(part, version)
		case "":
			fmt.Fprintf(i.Out, "bty: usb-grow skipped: %s (%s) holds no FAT or exFAT filesystem\n", stick.ImagesLabel, part.Path())
		default:
			fmt.Fprintf(i.Out, "bty: usb-grow skipped: %s (%s) holds %s, not the exFAT bty made; it is used as it is\n", stick.ImagesLabel, part.Path(), fs)
		}
		if fs != "" {
			if err := mountFS(part.Path(), imageroot.Default, fs); err != nil {
				i.say("mounting %s (%s) on %s: %v", stick.ImagesLabel, part.Path(), imageroot.Default, err)
			}
		}
	} else {
		i.say("no %s partition; looking for a %s folder on FAT and exFAT partitions", stick.ImagesLabel, stick.ImagesFolder)
		if src := u.findImageFolder(i); src != "" {
			if err := unix.Mount(src, imageroot.Default, "", unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
				i.say("bind-mounting %s on %s: %v", src, imageroot.Default, err)
			} else {
				i.say("images from %s", src)
			}
		} else {
			i.say("no images found on any partition; image_root stays empty")
		}
	}
	fmt.Fprintf(i.Out, "image_root: %s\n", imageroot.Default)
	return u
}

func (i *Init) sys() string {
	if i.Sys != "" {
		return i.Sys
	}
	return "/sys"
}

// findMedium mounts the ISO 9660 volume with the wanted id: a whole disk or
// CD holding it (a stick written with dd, a CD, a Ventoy device-mapper
// device), else an .iso file on a FAT or exFAT partition (an ISO copied
// onto a Ventoy-style stick, which its boot loader booted as a file).
func (i *Init) findMedium(u *USB, want string) error {
	devs := blockDevs(i.sys())
	for _, d := range devs {
		f, err := os.Open(d.Path())
		if err != nil {
			continue
		}
		id, size := isoVolume(f)
		f.Close()
		if id != want {
			continue
		}
		// Through a loop device over just the ISO 9660 volume: mounting
		// the disk itself would claim it exclusively, and then its
		// BTY_IMAGES partition could be neither grown nor mounted.
		loop, err := loopdev.AttachWith(d.Path(), loopdev.Options{ReadOnly: true, Size: size})
		if err != nil {
			i.say("attaching %s: %v", d.Path(), err)
			continue
		}
		if err := mountISO(loop.Path); err != nil {
			loop.Detach()
			i.say("%s holds %s but does not mount: %v", d.Path(), want, err)
			continue
		}
		u.Medium, u.disk = d.Path(), d.Name
		if d.Parent != "" {
			u.disk = d.Parent
		}
		return nil
	}
	for _, d := range devs {
		if strings.HasPrefix(d.Name, "sr") {
			continue
		}
		dir, err := u.mountStick(d)
		if err != nil {
			continue
		}
		iso := findISO(dir, want)
		if iso == "" {
			continue
		}
		loop, err := loopdev.AttachWith(iso, loopdev.Options{ReadOnly: true})
		if err != nil {
			i.say("attaching %s: %v", iso, err)
			continue
		}
		if err := mountISO(loop.Path); err != nil {
			loop.Detach()
			i.say("%s holds %s but does not mount: %v", iso, want, err)
			continue
		}
		u.Medium = d.Path() + ":/" + strings.TrimPrefix(iso, dir+"/")
		u.disk = cmp.Or(d.Parent, d.Name)
		return nil
	}
	return fmt.Errorf("no disk, CD or .iso file on a FAT/exFAT partition holds the volume %s", want)
}

func mountISO(dev string) error {
	if err := os.MkdirAll(mediumDir, 0o755); err != nil {
		return err
	}
	return unix.Mount(dev, mediumDir, "iso9660", unix.MS_RDONLY, "")
}

// mountStick mounts a FAT or exFAT partition read-only (once) and returns
// where.
func (u *USB) mountStick(d blockDev) (string, error) {
	if dir, ok := u.stickMounts[d.Name]; ok {
		return dir, nil
	}
	fs := readDev(d.Path(), fsType)
	if fs == "" {
		return "", errors.New("no FAT or exFAT filesystem")
	}
	dir := filepath.Join(sticksDir, d.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := mountFS(d.Path(), dir, fs); err != nil {
		return "", err
	}
	u.stickMounts[d.Name] = dir
	return dir, nil
}

// mountFS mounts a FAT or exFAT filesystem read-only. FAT names are read
// as UTF-8: the kernel's default character set for FAT (Debian builds it
// as "ascii") is a module the initrd does not carry, and would mangle
// operators' non-ASCII file names anyway.
func mountFS(dev, dir, fs string) error {
	data := ""
	if fs == "vfat" {
		data = "iocharset=utf8"
	}
	return unix.Mount(dev, dir, fs, unix.MS_RDONLY, data)
}

// findISO looks for an .iso file with the wanted volume id in dir and its
// subdirectories, two levels deep (Ventoy finds ISOs anywhere; operators
// keep them at the root or in a folder).
func findISO(dir, want string) string {
	var found string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			if strings.Count(strings.TrimPrefix(p, dir), "/") > 2 {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.EqualFold(filepath.Ext(p), ".iso") && readDev(p, isoVolumeID) == want {
			found = p
		}
		return nil
	})
	return found
}

// imagesPartition finds the partition named BTY_IMAGES, on the medium's
// disk if it has one.
func (u *USB) imagesPartition(sys string) (blockDev, bool) {
	var other *blockDev
	for _, d := range blockDevs(sys) {
		if d.PartName != stick.ImagesLabel {
			continue
		}
		if d.Parent == u.disk {
			return d, true
		}
		if other == nil {
			other = &d
		}
	}
	if other != nil {
		return *other, true
	}
	return blockDev{}, false
}

// grow runs the first-boot grow and prints its outcome as "bty: usb-grow".
func (i *Init) grow(part blockDev, version string) {
	g := &stick.Grower{
		Disk: "/dev/" + part.Parent, Partition: part.Path(), Number: part.Number,
		Dir: growDir, Version: version, Memory: memAvailable() - 64<<20,
		Mount: func(dev, dir string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return unix.Mount(dev, dir, "exfat", 0, "")
		},
		Unmount: func(dir string) error { return unix.Unmount(dir, 0) },
	}
	res, err := g.Grow()
	if err != nil {
		fmt.Fprintf(i.Out, "bty: usb-grow failed: %v\n", err)
		return
	}
	fmt.Fprintf(i.Out, "bty: usb-grow %s\n", res)
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// findImageFolder searches FAT and exFAT partitions (not CDs, not the live
// medium's own disk when it is a dd-written stick) for a bty-images folder,
// then for a partition root holding images, and returns the first hit.
func (u *USB) findImageFolder(i *Init) string {
	var roots []string
	for _, d := range blockDevs(i.sys()) {
		if strings.HasPrefix(d.Name, "sr") || "/dev/"+d.Name == u.Medium {
			continue
		}
		dir, err := u.mountStick(d)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, stick.ImagesFolder)); err == nil && fi.IsDir() {
			return filepath.Join(dir, stick.ImagesFolder)
		}
		roots = append(roots, dir)
	}
	for _, dir := range roots {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, err := catalog.FormatFromName(e.Name()); err == nil && e.Type().IsRegular() {
				return dir
			}
		}
	}
	return ""
}
