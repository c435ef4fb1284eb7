// Package gpt reads and writes GUID partition tables (UEFI 2.10, chapter 5)
// with their protective MBR, on anything addressed in 512-byte sectors: the
// USB ISO's system area at build time, and the stick itself when bty-init
// grows its last partition on first boot.
//
// Both copies of the table are always written together and every CRC is
// recomputed, so firmware, the kernel and fdisk see one consistent table.
package gpt

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// SectorSize is the logical sector size the tables are laid out for. USB
// sticks and disk image files use 512; 4Kn devices are not supported.
const SectorSize = 512

const (
	entries      = 128 // entries in the array, the minimum the spec allows
	entrySize    = 128
	arraySects   = entries * entrySize / SectorSize // 32
	headerSize   = 92
	signature    = "EFI PART"
	revision     = 0x00010000
	maxNameUTF16 = 36
)

// ReservedSectors is how many sectors one copy of the table takes: the
// header and the entry array (the primary copy also has the MBR before it).
const ReservedSectors = 1 + arraySects

// GUID is a GUID in the mixed-endian byte order GPT stores on disk.
type GUID [16]byte

// ParseGUID reads the canonical text form, e.g.
// C12A7328-F81F-11D2-BA4B-00A0C93EC93B.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if len(s) != 36 || err != nil || len(raw) != 16 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("GUID %q: want 8-4-4-4-12 hex digits", s)
	}
	// The first three fields are little-endian on disk.
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

// MustGUID is ParseGUID for constants.
func MustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func (g GUID) String() string {
	return fmt.Sprintf("%02X%02X%02X%02X-%02X%02X-%02X%02X-%X-%X",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8:10], g[10:])
}

// Partition type GUIDs bty uses.
var (
	TypeEFISystem = MustGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeBasicData = MustGUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
)

// Partition is one used entry. First and Last are inclusive sector numbers.
type Partition struct {
	Type       GUID
	GUID       GUID
	First      uint64
	Last       uint64
	Attributes uint64
	Name       string
}

// Sectors is the partition's length in sectors.
func (p Partition) Sectors() uint64 { return p.Last - p.First + 1 }

// Table is a whole partition table. Partitions keep their entry index:
// Partitions[i] is entry i (partition number i+1).
type Table struct {
	DiskGUID   GUID
	Partitions []Partition
}

// Usable returns the first and last sector a partition may use on a disk
// of the given size.
func Usable(diskSectors uint64) (first, last uint64) {
	return 2 + arraySects, diskSectors - 1 - ReservedSectors
}

// Write writes the protective MBR, the primary table at sector 1 and the
// backup table at the end of a disk of diskSectors sectors. It refuses
// partitions that overlap each other or the tables.
func Write(w io.WriterAt, diskSectors uint64, t Table) error {
	if err := t.check(diskSectors); err != nil {
		return err
	}
	array := make([]byte, arraySects*SectorSize)
	for i, p := range t.Partitions {
		if p.Type == (GUID{}) {
			continue // an unused entry keeps the numbers of those after it
		}
		e := array[i*entrySize:]
		copy(e[0:16], p.Type[:])
		copy(e[16:32], p.GUID[:])
		binary.LittleEndian.PutUint64(e[32:], p.First)
		binary.LittleEndian.PutUint64(e[40:], p.Last)
		binary.LittleEndian.PutUint64(e[48:], p.Attributes)
		for j, u := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	arrayCRC := crc32.ChecksumIEEE(array)
	first, last := Usable(diskSectors)
	header := func(self, alt, arrayAt uint64) []byte {
		h := make([]byte, SectorSize)
		copy(h, signature)
		binary.LittleEndian.PutUint32(h[8:], revision)
		binary.LittleEndian.PutUint32(h[12:], headerSize)
		binary.LittleEndian.PutUint64(h[24:], self)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], first)
		binary.LittleEndian.PutUint64(h[48:], last)
		copy(h[56:72], t.DiskGUID[:])
		binary.LittleEndian.PutUint64(h[72:], arrayAt)
		binary.LittleEndian.PutUint32(h[80:], entries)
		binary.LittleEndian.PutUint32(h[84:], entrySize)
		binary.LittleEndian.PutUint32(h[88:], arrayCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:headerSize]))
		return h
	}
	end := diskSectors - 1
	writes := []struct {
		at   uint64
		data []byte
	}{
		{0, protectiveMBR(diskSectors)},
		{1, header(1, end, 2)},
		{2, array},
		{end - arraySects, array},
		{end, header(end, 1, end-arraySects)},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.data, int64(wr.at*SectorSize)); err != nil {
			return fmt.Errorf("writing the partition table at sector %d: %w", wr.at, err)
		}
	}
	return nil
}

// protectiveMBR is the MBR of a GPT disk: one partition of type 0xEE over
// the whole disk (capped at what 32 bits can say). The 440 bytes of boot
// code stay zero: bty's media boot by UEFI only.
func protectiveMBR(diskSectors uint64) []byte {
	m := make([]byte, SectorSize)
	p := m[446:]
	p[1], p[2], p[3] = 0x00, 0x02, 0x00 // CHS of sector 1
	p[4] = 0xEE
	p[5], p[6], p[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(p[8:], 1)
	binary.LittleEndian.PutUint32(p[12:], uint32(min(diskSectors-1, 0xFFFFFFFF)))
	m[510], m[511] = 0x55, 0xAA
	return m
}

func (t Table) check(diskSectors uint64) error {
	if len(t.Partitions) > entries {
		return fmt.Errorf("%d partitions; a table holds %d", len(t.Partitions), entries)
	}
	first, last := Usable(diskSectors)
	for i, p := range t.Partitions {
		if p.Type == (GUID{}) {
			continue
		}
		if p.First < first || p.Last > last || p.First > p.Last {
			return fmt.Errorf("partition %d (%q) spans sectors %d-%d; the disk's usable sectors are %d-%d",
				i+1, p.Name, p.First, p.Last, first, last)
		}
		if len(utf16.Encode([]rune(p.Name))) > maxNameUTF16 {
			return fmt.Errorf("partition %d: name %q is longer than %d UTF-16 units", i+1, p.Name, maxNameUTF16)
		}
		for j, q := range t.Partitions[:i] {
			if q.Type != (GUID{}) && p.First <= q.Last && q.First <= p.Last {
				return fmt.Errorf("partitions %d (%q) and %d (%q) overlap", j+1, q.Name, i+1, p.Name)
			}
		}
	}
	return nil
}

// ErrNoTable says the disk carries no (valid) GPT.
var ErrNoTable = errors.New("no GUID partition table")

// Read reads the primary table of a disk (the one at sector 1) and checks
// its CRCs. A disk whose image was copied to a larger device still reads:
// its backup table then sits where the image ended, not at the disk's end,
// which is what Grow repairs.
func Read(r io.ReaderAt) (Table, error) {
	var t Table
	h := make([]byte, SectorSize)
	if _, err := r.ReadAt(h, SectorSize); err != nil {
		return t, fmt.Errorf("reading the GPT header: %w", err)
	}
	if string(h[:8]) != signature {
		return t, ErrNoTable
	}
	size := binary.LittleEndian.Uint32(h[12:])
	if size < headerSize || size > SectorSize {
		return t, fmt.Errorf("%w: header size %d", ErrNoTable, size)
	}
	sum := binary.LittleEndian.Uint32(h[16:])
	binary.LittleEndian.PutUint32(h[16:], 0)
	if crc32.ChecksumIEEE(h[:size]) != sum {
		return t, fmt.Errorf("%w: the header's CRC does not match", ErrNoTable)
	}
	copy(t.DiskGUID[:], h[56:72])
	at := binary.LittleEndian.Uint64(h[72:])
	n := binary.LittleEndian.Uint32(h[80:])
	esize := binary.LittleEndian.Uint32(h[84:])
	if esize < entrySize || esize > 1024 || n > 1024 {
		return t, fmt.Errorf("%w: %d entries of %d bytes", ErrNoTable, n, esize)
	}
	array := make([]byte, int(n)*int(esize))
	if _, err := r.ReadAt(array, int64(at*SectorSize)); err != nil {
		return t, fmt.Errorf("reading the GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(array) != binary.LittleEndian.Uint32(h[88:]) {
		return t, fmt.Errorf("%w: the entries' CRC does not match", ErrNoTable)
	}
	var last int
	var parts []Partition
	for i := range int(n) {
		e := array[i*int(esize):]
		var p Partition
		copy(p.Type[:], e[0:16])
		if p.Type == (GUID{}) {
			parts = append(parts, p)
			continue
		}
		copy(p.GUID[:], e[16:32])
		p.First = binary.LittleEndian.Uint64(e[32:])
		p.Last = binary.LittleEndian.Uint64(e[40:])
		p.Attributes = binary.LittleEndian.Uint64(e[48:])
		var name []uint16
		for j := 0; j < maxNameUTF16; j++ {
			u := binary.LittleEndian.Uint16(e[56+2*j:])
			if u == 0 {
				break
			}
			name = append(name, u)
		}
		p.Name = string(utf16.Decode(name))
		parts = append(parts, p)
		last = i + 1
	}
	t.Partitions = parts[:last]
	return t, nil
}

// Last returns the index of the partition that ends last on the disk.
func (t Table) Last() int {
	idx := -1
	for i, p := range t.Partitions {
		if p.Type != (GUID{}) && (idx < 0 || p.Last > t.Partitions[idx].Last) {
			idx = i
		}
	}
	return idx
}

// Free returns how many sectors lie unused between partition i's end and
// the last usable sector of a disk of diskSectors.
func (t Table) Free(i int, diskSectors uint64) uint64 {
	_, last := Usable(diskSectors)
	if t.Partitions[i].Last >= last {
		return 0
	}
	return last - t.Partitions[i].Last
}

// Grow extends partition i to the last usable sector of a disk of
// diskSectors, rounded down to align sectors so the partition ends on an
// erase-block boundary, and returns the new table. The caller writes it with
// Write, which also moves the backup table to the disk's end.
func (t Table) Grow(i int, diskSectors, align uint64) (Table, error) {
	if i < 0 || i >= len(t.Partitions) || t.Partitions[i].Type == (GUID{}) {
		return t, fmt.Errorf("no partition %d to grow", i+1)
	}
	if t.Last() != i {
		return t, fmt.Errorf("partition %d (%q) is not the last on the disk", i+1, t.Partitions[i].Name)
	}
	_, last := Usable(diskSectors)
	end := (last+1)/align*align - 1
	if end <= t.Partitions[i].Last {
		return t, fmt.Errorf("partition %d (%q) already reaches sector %d; the disk ends at %d",
			i+1, t.Partitions[i].Name, t.Partitions[i].Last, last)
	}
	grown := Table{DiskGUID: t.DiskGUID, Partitions: append([]Partition(nil), t.Partitions...)}
	grown.Partitions[i].Last = end
	return grown, nil
}
