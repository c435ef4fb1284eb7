package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// isoSector is ISO 9660's logical block size.
const isoSector = 2048

// isoFile is a file in the ISO 9660 tree: a name and an extent, which may
// lie anywhere in the image (inside the ESP, for the kernel and initrd).
type isoFile struct {
	Name   string // the ISO 9660 identifier without ";1", upper case
	Extent uint32 // first sector
	Size   uint32
}

// isoDir is a directory directly under the root (bty's ISO has no deeper
// tree): its name, its own sector, and its files.
type isoDir struct {
	Name   string
	Extent uint32
	Files  []isoFile
}

// isoVolume is everything the volume descriptors, path tables and
// directories describe.
type isoVolume struct {
	VolumeID    string
	Application string
	Created     time.Time
	Sectors     uint32 // the volume's size (ISO 9660's volume space size)
	Catalog     uint32 // sector of the El Torito boot catalog
	BIOSImage   uint32 // sector of the BIOS boot image (isolinux.bin)
	BootImage   uint32 // sector of the EFI boot image (the ESP)
	BootSectors uint16 // its size in 512-byte units, as El Torito counts
	PathL       uint32 // sectors of the two path tables
	PathM       uint32
	Root        uint32 // sector of the root directory
	Dirs        []isoDir
}

// writeISO9660 writes the descriptors (sectors 16-18), the boot catalog,
// the path tables and the directories. File data is the caller's.
func writeISO9660(put func(sector uint32, data []byte) error, v isoVolume) error {
	if err := checkIdentifier(v.VolumeID, 32); err != nil {
		return fmt.Errorf("volume id: %w", err)
	}
	for _, d := range v.Dirs {
		if err := checkIdentifier(d.Name, 31); err != nil {
			return err
		}
		for _, f := range d.Files {
			if err := checkIdentifier(strings.Replace(f.Name, ".", "_", 1), 30); err != nil {
				return err
			}
		}
	}
	when := v.Created.UTC()

	// Directories: root, then each subdirectory, one sector each.
	rootDir := make([]byte, isoSector)
	at := 0
	at += dirRecord(rootDir[at:], []byte{0}, v.Root, isoSector, true, when)
	at += dirRecord(rootDir[at:], []byte{1}, v.Root, isoSector, true, when)
	for _, d := range v.Dirs {
		at += dirRecord(rootDir[at:], []byte(d.Name), d.Extent, isoSector, true, when)
	}
	if err := put(v.Root, rootDir); err != nil {
		return err
	}
	for _, d := range v.Dirs {
		sec := make([]byte, isoSector)
		at := 0
		at += dirRecord(sec[at:], []byte{0}, d.Extent, isoSector, true, when)
		at += dirRecord(sec[at:], []byte{1}, v.Root, isoSector, true, when)
		for _, f := range d.Files {
			name := f.Name
			if !strings.Contains(name, ".") {
				name += "."
			}
			if at+33+len(name)+2+1 > isoSector {
				return fmt.Errorf("directory %s does not fit in one sector", d.Name)
			}
			at += dirRecord(sec[at:], []byte(name+";1"), f.Extent, f.Size, false, when)
		}
		if err := put(d.Extent, sec); err != nil {
			return err
		}
	}

	// Path tables: the root (number 1), then the subdirectories.
	pathTable := func(order binary.ByteOrder) []byte {
		t := []byte{}
		add := func(name []byte, extent uint32) {
			e := make([]byte, 8+len(name)+len(name)%2)
			e[0] = byte(len(name))
			order.PutUint32(e[2:], extent)
			order.PutUint16(e[6:], 1)
			copy(e[8:], name)
			t = append(t, e...)
		}
		add([]byte{0}, v.Root)
		for _, d := range v.Dirs {
			add([]byte(d.Name), d.Extent)
		}
		return t
	}
	l, m := pathTable(binary.LittleEndian), pathTable(binary.BigEndian)
	if len(l) > isoSector {
		return fmt.Errorf("path table larger than a sector")
	}
	if err := put(v.PathL, pad(l)); err != nil {
		return err
	}
	if err := put(v.PathM, pad(m)); err != nil {
		return err
	}

	// Primary volume descriptor.
	pvd := make([]byte, isoSector)
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	pvd[6] = 1
	copy(pvd[8:40], fmt.Sprintf("%-32s", ""))
	copy(pvd[40:72], fmt.Sprintf("%-32s", v.VolumeID))
	both32(pvd[80:], v.Sectors)
	both16(pvd[120:], 1) // volume set size
	both16(pvd[124:], 1) // volume sequence number
	both16(pvd[128:], isoSector)
	both32(pvd[132:], uint32(len(l)))
	binary.LittleEndian.PutUint32(pvd[140:], v.PathL)
	binary.BigEndian.PutUint32(pvd[148:], v.PathM)
	dirRecord(pvd[156:190], []byte{0}, v.Root, isoSector, true, when)
	for _, f := range [][2]int{{190, 128}, {318, 128}, {446, 128}, {574, 128}, {702, 37}, {739, 37}, {776, 37}} {
		copy(pvd[f[0]:f[0]+f[1]], strings.Repeat(" ", f[1])) // set, publisher, preparer, application, files
	}
	copy(pvd[574:], v.Application)
	copy(pvd[813:], decDate(when))          // creation
	copy(pvd[830:], decDate(when))          // modification
	copy(pvd[847:], "0000000000000000\x00") // expiration: none
	copy(pvd[864:], "0000000000000000\x00") // effective: at once
	pvd[881] = 1                            // file structure version
	if err := put(16, pvd); err != nil {
		return err
	}

	// El Torito boot record, then the set terminator.
	br := make([]byte, isoSector)
	copy(br[1:], "CD001")
	br[6] = 1
	copy(br[7:], "EL TORITO SPECIFICATION")
	binary.LittleEndian.PutUint32(br[71:], v.Catalog)
	if err := put(17, br); err != nil {
		return err
	}
	term := make([]byte, isoSector)
	term[0] = 255
	copy(term[1:], "CD001")
	term[6] = 1
	if err := put(18, term); err != nil {
		return err
	}

	// Boot catalog: a validation entry for the x86 (BIOS) platform, its
	// default entry (ISOLINUX, loaded as 4 virtual sectors: it loads the
	// rest of itself), then a final section header for the EFI platform
	// with one entry: the ESP image.
	cat := make([]byte, isoSector)
	cat[0] = 1
	cat[1] = 0 // platform: x86
	copy(cat[4:28], "bty")
	cat[30], cat[31] = 0x55, 0xAA
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(cat[i:])
	}
	binary.LittleEndian.PutUint16(cat[28:], -sum)
	bootEntry(cat[32:64], 4, v.BIOSImage)
	h := cat[64:96]
	h[0] = 0x91 // section header, the last one
	h[1] = 0xEF // platform: EFI
	binary.LittleEndian.PutUint16(h[2:], 1)
	copy(h[4:], "bty")
	bootEntry(cat[96:128], v.BootSectors, v.BootImage)
	return put(v.Catalog, cat)
}

// bootEntry writes a bootable no-emulation El Torito entry.
func bootEntry(e []byte, sectors uint16, lba uint32) {
	e[0] = 0x88 // bootable
	e[1] = 0    // no emulation
	binary.LittleEndian.PutUint16(e[6:], sectors)
	binary.LittleEndian.PutUint32(e[8:], lba)
}

// dirRecord writes one directory record and returns its length.
func dirRecord(dst []byte, name []byte, extent, size uint32, dir bool, when time.Time) int {
	n := 33 + len(name)
	n += n % 2
	dst[0] = byte(n)
	both32(dst[2:], extent)
	both32(dst[10:], size)
	dst[18] = byte(when.Year() - 1900)
	dst[19] = byte(when.Month())
	dst[20] = byte(when.Day())
	dst[21] = byte(when.Hour())
	dst[22] = byte(when.Minute())
	dst[23] = byte(when.Second())
	if dir {
		dst[25] = 2
	}
	both16(dst[28:], 1)
	dst[32] = byte(len(name))
	copy(dst[33:], name)
	return n
}

func decDate(t time.Time) string {
	return t.Format("20060102150405") + "00\x00"
}

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func pad(b []byte) []byte { return append(b, make([]byte, isoSector-len(b))...) }

// checkIdentifier accepts ISO 9660's d-characters (A-Z, 0-9, _) only, so
// every reader shows the same names.
func checkIdentifier(s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("identifier %q: want 1-%d characters", s, max)
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("identifier %q: %q is not a d-character (A-Z, 0-9, _)", s, r)
		}
	}
	return nil
}
