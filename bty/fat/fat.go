// Package fat builds FAT16 filesystem images in memory, reproducibly: the
// USB ISO's EFI system partition (tools/iso) and the cloud-init seed the
// flasher writes (bty/seed). Files get long (VFAT) names where 8.3 does
// not fit, and each file's data is one contiguous run of clusters.
package fat

import (
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// The volumes are FAT16 with 2 KiB clusters: FAT16 because UEFI firmware
// and Linux read FAT12/16/32 alike and a volume of 4096 or more clusters
// is FAT16 by cluster count; 2 KiB clusters so every file's data starts on
// an ISO 9660 sector, which lets the ISO's /live/ entries point at the
// same bytes instead of storing the kernel and initrd twice. The smallest
// volume is 8 MiB.
const (
	fatSector         = 512
	fatSecPerCluster  = 4
	fatCluster        = fatSector * fatSecPerCluster
	fatRootEntries    = 512
	fatMinClusters    = 4096  // comfortably above FAT12's limit of 4084
	fatMaxClusters    = 65524 // FAT16's limit
	fatEntriesPerDir  = fatCluster / 32
	fatAttrDirectory  = 0x10
	fatAttrVolumeID   = 0x08
	fatAttrArchive    = 0x20
	fatLowerBase      = 0x08 // NT flags: show the 8.3 name's base in lower case
	fatLowerExtension = 0x10
)

// File is one file to put on the volume.
type File struct {
	Path string // slash-separated, every element an 8.3 name
	Data []byte
}

// Image is a built FAT16 volume and where each file's data sits in it.
type Image struct {
	Image   []byte
	Offsets map[string]int64 // file path -> byte offset of its data
}

type fatNode struct {
	name     string
	children []*fatNode // directories only
	file     *File
	cluster  uint32
	clusters uint32
}

// Build lays out the files in a FAT16 image: directories first, then each
// file's data in one contiguous run of clusters, in path order, then at
// least spare bytes of free clusters.
func Build(files []File, label string, serial uint32, mtime time.Time, spare int) (*Image, error) {
	root := &fatNode{}
	dirs := []*fatNode{}
	var find func(dir *fatNode, elems []string) (*fatNode, error)
	find = func(dir *fatNode, elems []string) (*fatNode, error) {
		if len(elems) == 0 {
			return dir, nil
		}
		for _, c := range dir.children {
			if c.name == elems[0] {
				if c.file != nil {
					return nil, fmt.Errorf("%q is a file and a directory", elems[0])
				}
				return find(c, elems[1:])
			}
		}
		d := &fatNode{name: elems[0]}
		dir.children = append(dir.children, d)
		dirs = append(dirs, d)
		return find(d, elems[1:])
	}
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	var nodes []*fatNode
	for i := range sorted {
		f := &sorted[i]
		for _, e := range strings.Split(f.Path, "/") {
			if err := checkLongName(e); err != nil {
				return nil, fmt.Errorf("file %q: %w", f.Path, err)
			}
		}
		parent, err := find(root, strings.Split(path.Dir(f.Path), "/")[:strings.Count(f.Path, "/")])
		if err != nil {
			return nil, fmt.Errorf("file %q: %w", f.Path, err)
		}
		n := &fatNode{name: path.Base(f.Path), file: f}
		parent.children = append(parent.children, n)
		nodes = append(nodes, n)
	}
	// Clusters: each subdirectory takes one, then the files.
	next := uint32(2)
	for _, d := range dirs {
		if n := dirEntries(d) + 2; n > fatEntriesPerDir {
			return nil, fmt.Errorf("directory %q needs %d entries; at most %d fit", d.name, n, fatEntriesPerDir)
		}
		d.cluster, d.clusters = next, 1
		next++
	}
	if dirEntries(root)+1 > fatRootEntries {
		return nil, fmt.Errorf("the root directory has too many entries")
	}
	for _, n := range nodes {
		n.clusters = uint32((len(n.file.Data) + fatCluster - 1) / fatCluster)
		if n.clusters > 0 {
			n.cluster = next
		}
		next += n.clusters
	}
	clusters := max(next-2+uint32((spare+fatCluster-1)/fatCluster), fatMinClusters)
	if clusters > fatMaxClusters {
		return nil, fmt.Errorf("the files need %d MiB; FAT16 with 2 KiB clusters holds 127 MiB", clusters*fatCluster>>20)
	}
	fatSectors := (int(clusters+2)*2 + fatSector - 1) / fatSector
	rootSectors := fatRootEntries * 32 / fatSector
	reserved := 1
	for (reserved+2*fatSectors+rootSectors)%fatSecPerCluster != 0 {
		reserved++
	}
	dataStart := reserved + 2*fatSectors + rootSectors
	total := dataStart + int(clusters)*fatSecPerCluster
	img := make([]byte, total*fatSector)

	// Boot sector with the BIOS parameter block.
	b := img[:fatSector]
	copy(b, []byte{0xEB, 0x3C, 0x90})
	copy(b[3:], "MSWIN4.1") // the OEM name the FAT specification recommends
	binary.LittleEndian.PutUint16(b[11:], fatSector)
	b[13] = fatSecPerCluster
	binary.LittleEndian.PutUint16(b[14:], uint16(reserved))
	b[16] = 2
	binary.LittleEndian.PutUint16(b[17:], fatRootEntries)
	if total < 0x10000 {
		binary.LittleEndian.PutUint16(b[19:], uint16(total))
	} else {
		binary.LittleEndian.PutUint32(b[32:], uint32(total))
	}
	b[21] = 0xF8
	binary.LittleEndian.PutUint16(b[22:], uint16(fatSectors))
	binary.LittleEndian.PutUint16(b[24:], 32) // sectors per track, heads: nominal
	binary.LittleEndian.PutUint16(b[26:], 64)
	b[36] = 0x80
	b[38] = 0x29
	binary.LittleEndian.PutUint32(b[39:], serial)
	copy(b[43:54], fmt.Sprintf("%-11s", label))
	copy(b[54:62], "FAT16   ")
	b[510], b[511] = 0x55, 0xAA

	// Both FATs.
	fat := make([]byte, fatSectors*fatSector)
	binary.LittleEndian.PutUint16(fat[0:], 0xFFF8)
	binary.LittleEndian.PutUint16(fat[2:], 0xFFFF)
	chain := func(first, n uint32) {
		for c := first; c < first+n; c++ {
			v := uint16(c + 1)
			if c == first+n-1 {
				v = 0xFFFF
			}
			binary.LittleEndian.PutUint16(fat[2*c:], v)
		}
	}
	for _, d := range dirs {
		chain(d.cluster, 1)
	}
	for _, n := range nodes {
		chain(n.cluster, n.clusters)
	}
	for i := range 2 {
		copy(img[(reserved+i*fatSectors)*fatSector:], fat)
	}

	date, clock := fatTime(mtime)
	entry := func(dst []byte, raw []byte, flags byte, attr byte, cluster uint32, size int) {
		copy(dst[0:11], raw)
		dst[11] = attr
		dst[12] = flags
		for _, at := range []int{14, 22} { // creation and write time
			binary.LittleEndian.PutUint16(dst[at:], clock)
			binary.LittleEndian.PutUint16(dst[at+2:], date)
		}
		binary.LittleEndian.PutUint16(dst[18:], date) // last access date
		binary.LittleEndian.PutUint16(dst[26:], uint16(cluster))
		binary.LittleEndian.PutUint32(dst[28:], uint32(size))
	}
	clusterAt := func(c uint32) []byte { return img[(dataStart+int(c-2)*fatSecPerCluster)*fatSector:] }
	var fill func(d *fatNode, dst []byte, parent uint32)
	fill = func(d *fatNode, dst []byte, parent uint32) {
		i := 0
		if d != root {
			copy(dst[0:11], ".          ")
			dst[11] = fatAttrDirectory
			binary.LittleEndian.PutUint16(dst[26:], uint16(d.cluster))
			copy(dst[32:43], "..         ")
			dst[43] = fatAttrDirectory
			binary.LittleEndian.PutUint16(dst[58:], uint16(parent)) // 0 means the root
			for _, e := range [][]byte{dst[0:32], dst[32:64]} {
				binary.LittleEndian.PutUint16(e[22:], clock)
				binary.LittleEndian.PutUint16(e[24:], date)
			}
			i = 2
		} else {
			copy(dst[0:11], fmt.Sprintf("%-11s", label))
			dst[11] = fatAttrVolumeID
			binary.LittleEndian.PutUint16(dst[22:], clock)
			binary.LittleEndian.PutUint16(dst[24:], date)
			i = 1
		}
		aliases := 0
		for _, c := range d.children {
			raw, flags, err := shortName(c.name)
			if err != nil {
				// A long name: VFAT entries before a unique 8.3 alias.
				aliases++
				raw = aliasName(c.name, aliases)
				flags = 0
				for _, l := range longEntries(c.name, raw) {
					copy(dst[32*i:], l)
					i++
				}
			}
			e := dst[32*i:]
			i++
			if c.file != nil {
				entry(e, raw, flags, fatAttrArchive, c.cluster, len(c.file.Data))
				copy(clusterAt(c.cluster), c.file.Data)
				continue
			}
			entry(e, raw, flags, fatAttrDirectory, c.cluster, 0)
			fill(c, clusterAt(c.cluster), d.cluster)
		}
	}
	fill(root, img[(reserved+2*fatSectors)*fatSector:], 0)

	offsets := map[string]int64{}
	for _, n := range nodes {
		offsets[n.file.Path] = int64(dataStart*fatSector) + int64(n.cluster-2)*fatCluster
	}
	return &Image{Image: img, Offsets: offsets}, nil
}

// shortName converts a file name to the 11 bytes of an 8.3 directory
// entry and the NT case flags that make Linux and Windows show it as
// written. Long file names are not supported: every name bty puts on the
// ESP fits 8.3, and a name that does not is an error, not a silent mangle.
func shortName(name string) (raw []byte, flags byte, err error) {
	base, ext, _ := strings.Cut(name, ".")
	if base == "" || len(base) > 8 || len(ext) > 3 || strings.Contains(ext, ".") {
		return nil, 0, fmt.Errorf("%q is not an 8.3 name", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return nil, 0, fmt.Errorf("%q: character %q is not allowed in an 8.3 name", name, r)
		}
	}
	caseFlag := func(s string, lower byte) (byte, error) {
		switch {
		case s == strings.ToUpper(s):
			return 0, nil
		case s == strings.ToLower(s):
			return lower, nil
		}
		return 0, fmt.Errorf("%q mixes upper and lower case, which 8.3 names cannot record", name)
	}
	fb, err := caseFlag(base, fatLowerBase)
	if err != nil {
		return nil, 0, err
	}
	fe, err := caseFlag(ext, fatLowerExtension)
	if err != nil {
		return nil, 0, err
	}
	return []byte(fmt.Sprintf("%-8s%-3s", strings.ToUpper(base), strings.ToUpper(ext))), fb | fe, nil
}

// fatTime encodes t (UTC, clamped to FAT's epoch, 1980) as FAT's date and
// time words.
func fatTime(t time.Time) (date, clock uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	clock = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, clock
}

// checkLongName accepts the names bty puts on the ESP: printable ASCII
// without the characters FAT forbids.
func checkLongName(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." {
		return fmt.Errorf("%q is not a file name", name)
	}
	for _, r := range name {
		if r < 0x20 || r > 0x7E || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("%q: character %q is not allowed on FAT", name, r)
		}
	}
	return nil
}

// dirEntries counts the 32-byte entries a directory's children take.
func dirEntries(d *fatNode) int {
	n := 0
	for _, c := range d.children {
		n++
		if _, _, err := shortName(c.name); err != nil {
			n += (len(c.name) + 12) / 13
		}
	}
	return n
}

// aliasName is the 8.3 alias of a long name: up to six characters of its
// base, "~" and a number unique in the directory, and up to three of its
// extension, in upper case.
func aliasName(name string, n int) []byte {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	clean := func(s string, max int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == max {
				break
			}
			if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	tail := fmt.Sprintf("~%d", n)
	return []byte(fmt.Sprintf("%-8s%-3s", clean(base, 8-len(tail))+tail, clean(ext, 3)))
}

// longEntries are the VFAT long-name entries for name, last part first,
// as they precede the 8.3 entry on disk.
func longEntries(name string, alias []byte) [][]byte {
	var sum byte
	for _, c := range alias {
		sum = (sum>>1 | sum<<7) + c
	}
	units := utf16.Encode([]rune(name))
	n := (len(units) + 12) / 13
	var out [][]byte
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, 32)
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40 // the last (first stored) entry
		}
		e[11] = 0x0F // attributes of a long-name entry
		e[13] = sum
		slots := []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
		for k, at := range slots {
			j := (seq-1)*13 + k
			var u uint16
			switch {
			case j < len(units):
				u = units[j]
			case j == len(units):
				u = 0 // terminator
			default:
				u = 0xFFFF // padding
			}
			binary.LittleEndian.PutUint16(e[at:], u)
		}
		out = append(out, e)
	}
	return out
}
