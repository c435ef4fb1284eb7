// Package seed writes a machine's cloud-init seed where cloud-init's
// NoCloud datasource finds it: a small FAT partition labelled CIDATA at
// the end of the flashed disk, holding meta-data, user-data and
// network-config. The image's own partitions are not touched; on a GPT
// disk the backup table moves to the disk's end (where the image, smaller
// than the disk, did not put it), so the root partition can still grow up
// to the seed. An MBR disk gets the seed in a free primary slot.
package seed

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bty-lab/bty/bty/fat"
	"github.com/bty-lab/bty/bty/gpt"
)

// Label is the volume label NoCloud looks for (case does not matter to
// it; this is how cloud-init's own tools write it).
const Label = "CIDATA"

// align is where the seed partition starts: a 1 MiB boundary, as
// partitioning tools align.
const align = 2048

// Files are the seed's files, by their NoCloud names.
type Files struct {
	MetaData, UserData, NetworkConfig string
}

// Disk is what the seed is written to: the target device, or a file.
type Disk interface {
	io.ReaderAt
	io.WriterAt
}

// ErrNoRoom is a disk with no space after the image's partitions, an MBR
// with no free slot, or an image with no partition table: the machine
// gets no seed (its flash stands).
var ErrNoRoom = errors.New("no room for the cloud-init seed")

// Placed says where the seed went.
type Placed struct {
	Partition int    // its number (1-based)
	First     uint64 // its first sector
	Sectors   uint64
	Table     string // "gpt" or "mbr"
}

// Write writes the seed to the end of a disk of size bytes and reads it
// back. On error the disk may hold the image's partitions as they were
// plus a partial seed; the caller reports the flash failed.
func Write(d Disk, size int64, f Files) (Placed, error) {
	vol, err := volume(f)
	if err != nil {
		return Placed{}, err
	}
	sectors := uint64(size) / gpt.SectorSize
	var p Placed
	t, err := gpt.Read(d)
	switch {
	case err == nil:
		p, err = writeGPT(d, sectors, t, uint64(len(vol))/gpt.SectorSize)
	case errors.Is(err, gpt.ErrNoTable):
		p, err = writeMBR(d, sectors, uint64(len(vol))/gpt.SectorSize)
	}
	if err != nil {
		return p, err
	}
	at := int64(p.First) * gpt.SectorSize
	if _, err := d.WriteAt(vol, at); err != nil {
		return p, fmt.Errorf("writing the seed at sector %d: %w", p.First, err)
	}
	back := make([]byte, len(vol))
	if _, err := d.ReadAt(back, at); err != nil || !bytes.Equal(back, vol) {
		return p, fmt.Errorf("the seed read back differs from what was written (%v)", err)
	}
	return p, nil
}

// volume is the seed's FAT volume. Its serial and times are fixed: the
// same files make the same bytes.
func volume(f Files) ([]byte, error) {
	files := []fat.File{{Path: "meta-data", Data: []byte(f.MetaData)}, {Path: "user-data", Data: []byte(f.UserData)}}
	if f.NetworkConfig != "" {
		files = append(files, fat.File{Path: "network-config", Data: []byte(f.NetworkConfig)})
	}
	img, err := fat.Build(files, Label, 0x0b7ec1d0, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	if err != nil {
		return nil, fmt.Errorf("building the seed's filesystem: %w", err)
	}
	return img.Image, nil
}

// end is where a seed of n sectors starts when it ends by last: aligned
// down, and after after.
func end(last, n, after uint64) (uint64, error) {
	if last+1 < n {
		return 0, ErrNoRoom
	}
	first := (last + 1 - n) / align * align
	if first <= after {
		return 0, fmt.Errorf("%w: the image's partitions end at sector %d, and the seed needs %d sectors (%d MiB) before the disk's end at %d",
			ErrNoRoom, after, n, n*gpt.SectorSize>>20, last)
	}
	return first, nil
}

func writeGPT(d Disk, sectors uint64, t gpt.Table, n uint64) (Placed, error) {
	last := t.Last()
	if last < 0 {
		return Placed{}, fmt.Errorf("%w: the GPT has no partition", ErrNoRoom)
	}
	_, usable := gpt.Usable(sectors)
	first, err := end(usable, n, t.Partitions[last].Last)
	if err != nil {
		return Placed{}, err
	}
	slot := len(t.Partitions)
	for i, p := range t.Partitions {
		if p.Type == (gpt.GUID{}) {
			slot = i
			break
		}
	}
	var id gpt.GUID
	rand.Read(id[:])
	id[7] = id[7]&0x0F | 0x40 // a version 4 GUID (byte 7: the third field is little-endian)
	id[8] = id[8]&0x3F | 0x80
	p := gpt.Partition{Type: gpt.TypeBasicData, GUID: id, First: first, Last: first + n - 1, Name: Label}
	nt := gpt.Table{DiskGUID: t.DiskGUID, Partitions: append([]gpt.Partition(nil), t.Partitions...)}
	if slot == len(nt.Partitions) {
		nt.Partitions = append(nt.Partitions, p)
	} else {
		nt.Partitions[slot] = p
	}
	// The image's MBR boot code (a BIOS boot loader's first stage) and disk
	// signature stay; gpt.Write writes a protective MBR over the whole disk.
	mbr := make([]byte, 2*gpt.SectorSize)
	if _, err := d.ReadAt(mbr, 0); err != nil {
		return Placed{}, err
	}
	// The image's backup header, where the image ended: erased once the
	// table has its backup at the disk's end, so no tool finds a stale one.
	stale := binary.LittleEndian.Uint64(mbr[gpt.SectorSize+32:])
	if err := gpt.Write(d, sectors, nt); err != nil {
		return Placed{}, err
	}
	if _, err := d.WriteAt(mbr[:446], 0); err != nil {
		return Placed{}, err
	}
	if stale > t.Partitions[last].Last && stale < first {
		if _, err := d.WriteAt(make([]byte, gpt.SectorSize), int64(stale)*gpt.SectorSize); err != nil {
			return Placed{}, err
		}
	}
	return Placed{Partition: slot + 1, First: first, Sectors: n, Table: "gpt"}, nil
}

// The MBR's partition entries.
const (
	mbrEntries = 446
	mbrFAT16   = 0x0E // FAT16, LBA-addressed
)

func writeMBR(d Disk, sectors uint64, n uint64) (Placed, error) {
	mbr := make([]byte, gpt.SectorSize)
	if _, err := d.ReadAt(mbr, 0); err != nil {
		return Placed{}, err
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return Placed{}, fmt.Errorf("%w: the image has neither a GPT nor an MBR partition table", ErrNoRoom)
	}
	if sectors > 1<<32 {
		sectors = 1 << 32 // what an MBR can address
	}
	slot, after := -1, uint64(0)
	for i := range 4 {
		e := mbr[mbrEntries+16*i:]
		if e[4] == 0 {
			if slot < 0 {
				slot = i
			}
			continue
		}
		start, count := binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
		after = max(after, uint64(start)+uint64(count)-1)
	}
	if slot < 0 {
		return Placed{}, fmt.Errorf("%w: the image's MBR uses all four primary slots", ErrNoRoom)
	}
	first, err := end(sectors-1, n, after)
	if err != nil {
		return Placed{}, err
	}
	e := mbr[mbrEntries+16*slot : mbrEntries+16*slot+16]
	clear(e)
	copy(e[1:4], []byte{0xFE, 0xFF, 0xFF}) // CHS beyond reach: LBA only
	e[4] = mbrFAT16
	copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(e[8:], uint32(first))
	binary.LittleEndian.PutUint32(e[12:], uint32(n))
	if _, err := d.WriteAt(mbr, 0); err != nil {
		return Placed{}, err
	}
	return Placed{Partition: slot + 1, First: first, Sectors: n, Table: "mbr"}, nil
}
