// Package exfat creates empty exFAT filesystems (Microsoft's exFAT
// specification, 2019). bty formats the USB stick's BTY_IMAGES partition
// with it twice: when the ISO is built, and when bty-init grows the
// partition on first boot; there are no mkfs tools in the live environment.
//
// Why exFAT and not FAT32: operators copy disk images onto the stick from
// Windows and macOS, and disk images are often larger than FAT32's 4 GiB
// file limit; both systems read and write exFAT natively.
//
// Only formatting is implemented: files are written through the kernel's
// exfat driver (or the operator's OS), which is the reference for reading
// what Format lays down.
package exfat

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode"
	"unicode/utf16"
)

const (
	sectorShift = 9
	sectorSize  = 1 << sectorShift
	// MinSize is the smallest volume Format makes: room for the boot
	// regions, the FAT and a few clusters.
	MinSize = 1 << 20
	// fatOffset puts the FAT at 1 MiB and the cluster heap on a 1 MiB
	// boundary, which is what flash media erase in.
	alignSectors = 2048
)

// Options describe the volume.
type Options struct {
	Label  string // at most 11 characters
	Serial uint32 // the volume serial number (reproducible: derive it)
	// PartitionOffset is the volume's first sector on its disk, recorded in
	// the boot sector (0 means unknown, which the spec allows).
	PartitionOffset uint64
}

// clusterShift picks the cluster size Microsoft's format tool uses for a
// volume of this size (in sectors, as a power of two).
func clusterShift(size int64) uint {
	switch {
	case size <= 256<<20:
		return 3 // 4 KiB
	case size <= 32<<30:
		return 6 // 32 KiB
	default:
		return 8 // 128 KiB
	}
}

// Format writes an empty exFAT filesystem over the first size bytes of w.
// It writes every metadata sector it needs (boot regions, FAT, bitmap,
// up-case table, root directory) and nothing else: the rest of the volume
// is free space whose contents do not matter.
func Format(w io.WriterAt, size int64, o Options) error {
	if size < MinSize {
		return fmt.Errorf("exfat: a %d-byte volume is too small; need at least %d", size, MinSize)
	}
	label := utf16.Encode([]rune(o.Label))
	if len(label) > 11 {
		return fmt.Errorf("exfat: label %q is longer than 11 characters", o.Label)
	}
	volSectors := uint64(size) >> sectorShift
	cshift := clusterShift(size)
	spc := uint64(1) << cshift
	clusterSize := spc * sectorSize

	// The FAT starts on the first 1 MiB boundary (after both boot regions);
	// its length is what the largest possible cluster count needs.
	fatOffset := uint64(alignSectors)
	if volSectors < 16*alignSectors {
		fatOffset = 128 // small volumes: 64 KiB, not a wasted MiB
	}
	maxClusters := volSectors / spc
	fatSectors := roundUp((maxClusters+2)*4, sectorSize) / sectorSize
	heapOffset := roundUp(fatOffset+fatSectors, min(fatOffset, alignSectors))
	if heapOffset >= volSectors {
		return fmt.Errorf("exfat: a %d-byte volume has no room for data", size)
	}
	clusters := (volSectors - heapOffset) / spc
	if clusters > 0xFFFFFFF5 {
		return fmt.Errorf("exfat: a %d-byte volume needs more clusters than exFAT addresses", size)
	}

	upcase := upcaseTable()
	bitmapLen := roundUp(clusters, 8) / 8
	// Cluster 2 onwards: the allocation bitmap, the up-case table, the root
	// directory, each in whole clusters.
	bitmapClusters := roundUp(bitmapLen, clusterSize) / clusterSize
	upcaseClusters := roundUp(uint64(len(upcase)), clusterSize) / clusterSize
	bitmapFirst := uint64(2)
	upcaseFirst := bitmapFirst + bitmapClusters
	rootFirst := upcaseFirst + upcaseClusters
	used := bitmapClusters + upcaseClusters + 1
	if used >= clusters {
		return fmt.Errorf("exfat: a %d-byte volume has no room for data", size)
	}

	put := func(at uint64, b []byte) error {
		_, err := w.WriteAt(b, int64(at))
		return err
	}
	heapByte := func(cluster uint64) uint64 { return heapOffset*sectorSize + (cluster-2)*clusterSize }

	// FAT: two media entries, then one chain per metadata structure.
	fat := make([]byte, fatSectors*sectorSize)
	binary.LittleEndian.PutUint32(fat[0:], 0xFFFFFFF8)
	binary.LittleEndian.PutUint32(fat[4:], 0xFFFFFFFF)
	for _, chain := range [][2]uint64{{bitmapFirst, bitmapClusters}, {upcaseFirst, upcaseClusters}, {rootFirst, 1}} {
		for c := chain[0]; c < chain[0]+chain[1]; c++ {
			next := uint32(c + 1)
			if c == chain[0]+chain[1]-1 {
				next = 0xFFFFFFFF
			}
			binary.LittleEndian.PutUint32(fat[4*c:], next)
		}
	}
	if err := put(fatOffset*sectorSize, fat); err != nil {
		return fmt.Errorf("exfat: writing the FAT: %w", err)
	}

	bitmap := make([]byte, bitmapClusters*clusterSize)
	for c := range used {
		bitmap[c/8] |= 1 << (c % 8)
	}
	upcaseBuf := make([]byte, upcaseClusters*clusterSize)
	copy(upcaseBuf, upcase)

	root := make([]byte, clusterSize)
	// Volume label entry (type 0x83).
	root[0] = 0x83
	root[1] = byte(len(label))
	for i, u := range label {
		binary.LittleEndian.PutUint16(root[2+2*i:], u)
	}
	// Allocation bitmap entry (0x81).
	e := root[32:]
	e[0] = 0x81
	binary.LittleEndian.PutUint32(e[20:], uint32(bitmapFirst))
	binary.LittleEndian.PutUint64(e[24:], bitmapLen)
	// Up-case table entry (0x82).
	e = root[64:]
	e[0] = 0x82
	binary.LittleEndian.PutUint32(e[4:], checksum(upcase, nil))
	binary.LittleEndian.PutUint32(e[20:], uint32(upcaseFirst))
	binary.LittleEndian.PutUint64(e[24:], uint64(len(upcase)))
	if o.Label == "" {
		root[0], root[1] = 0x03, 0 // "no label": the entry exists but is unused
	}

	for _, s := range []struct {
		cluster uint64
		data    []byte
		what    string
	}{{bitmapFirst, bitmap, "allocation bitmap"}, {upcaseFirst, upcaseBuf, "up-case table"}, {rootFirst, root, "root directory"}} {
		if err := put(heapByte(s.cluster), s.data); err != nil {
			return fmt.Errorf("exfat: writing the %s: %w", s.what, err)
		}
	}

	// The main and backup boot regions: 12 sectors each.
	region := make([]byte, 12*sectorSize)
	b := region[:sectorSize]
	copy(b, []byte{0xEB, 0x76, 0x90})
	copy(b[3:], "EXFAT   ")
	binary.LittleEndian.PutUint64(b[64:], o.PartitionOffset)
	binary.LittleEndian.PutUint64(b[72:], volSectors)
	binary.LittleEndian.PutUint32(b[80:], uint32(fatOffset))
	binary.LittleEndian.PutUint32(b[84:], uint32(fatSectors))
	binary.LittleEndian.PutUint32(b[88:], uint32(heapOffset))
	binary.LittleEndian.PutUint32(b[92:], uint32(clusters))
	binary.LittleEndian.PutUint32(b[96:], uint32(rootFirst))
	binary.LittleEndian.PutUint32(b[100:], o.Serial)
	binary.LittleEndian.PutUint16(b[104:], 0x0100) // revision 1.00
	b[108] = sectorShift
	b[109] = byte(cshift)
	b[110] = 1    // one FAT
	b[111] = 0x80 // drive select
	b[112] = byte(used * 100 / clusters)
	for i := 120; i < 510; i++ {
		b[i] = 0xF4 // boot code: halt
	}
	b[510], b[511] = 0x55, 0xAA
	for s := 1; s <= 8; s++ { // extended boot sectors: signature only
		copy(region[s*sectorSize+sectorSize-4:], []byte{0x00, 0x00, 0x55, 0xAA})
	}
	sum := checksum(region[:11*sectorSize], func(i int) bool { return i == 106 || i == 107 || i == 112 })
	for i := 11 * sectorSize; i < 12*sectorSize; i += 4 {
		binary.LittleEndian.PutUint32(region[i:], sum)
	}
	for _, at := range []uint64{0, 12 * sectorSize} {
		if err := put(at, region); err != nil {
			return fmt.Errorf("exfat: writing the boot region: %w", err)
		}
	}
	return nil
}

// checksum is exFAT's rotating 32-bit checksum; skip leaves out bytes the
// spec excludes (the boot sector's volume flags and percent in use).
func checksum(b []byte, skip func(int) bool) uint32 {
	var sum uint32
	for i, c := range b {
		if skip != nil && skip(i) {
			continue
		}
		sum = (sum>>1 | sum<<31) + uint32(c)
	}
	return sum
}

// upcaseTable builds the compressed up-case table from Go's Unicode
// tables: every character of the Basic Multilingual Plane maps to its
// simple upper case; runs of characters that map to themselves are stored
// as 0xFFFF followed by the run length, as the spec's compression allows.
func upcaseTable() []byte {
	var out []uint16
	identity, start := 0, 0
	for c := 0; c <= 0xFFFF; c++ {
		u := c
		if up := unicode.ToUpper(rune(c)); up <= 0xFFFF && (c < 0xD800 || c > 0xDFFF) {
			u = int(up)
		}
		if u == c {
			if identity == 0 {
				start = c
			}
			identity++
			continue
		}
		out = appendRun(out, start, identity)
		identity = 0
		out = append(out, uint16(u))
	}
	out = appendRun(out, start, identity)
	b := make([]byte, 2*len(out))
	for i, u := range out {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return b
}

// appendRun appends n identity mappings starting at start: literally when
// that is shorter than a run marker, else compressed. U+FFFF is never
// written literally: it is the marker.
func appendRun(out []uint16, start, n int) []uint16 {
	if n <= 2 && start+n <= 0xFFFF {
		for c := start; c < start+n; c++ {
			out = append(out, uint16(c))
		}
		return out
	}
	if n == 0 {
		return out
	}
	return append(out, 0xFFFF, uint16(n))
}

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }
