// Package cpio writes "newc" cpio archives, the format of Linux initramfs,
// reproducibly: entries sorted by path, parents created before children,
// every time, owner and inode number fixed.
package cpio

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Entry kinds.
const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChar = 0o020000
)

type entry struct {
	mode         uint32
	data         []byte
	major, minor uint32 // device numbers for character devices
}

// Archive collects entries; Write emits them.
type Archive struct {
	entries map[string]entry
}

// New returns an empty archive.
func New() *Archive { return &Archive{entries: map[string]entry{}} }

func clean(p string) (string, error) {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("bad archive path %q: no .. allowed", p)
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || c == "." {
		return "", fmt.Errorf("bad archive path %q", p)
	}
	return c, nil
}

func (a *Archive) add(p string, e entry) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if old, ok := a.entries[c]; ok && !(old.mode&0o170000 == modeDir && e.mode&0o170000 == modeDir) {
		return fmt.Errorf("%s added twice", c)
	}
	for dir := path.Dir(c); dir != "."; dir = path.Dir(dir) {
		if _, ok := a.entries[dir]; !ok {
			a.entries[dir] = entry{mode: modeDir | 0o755}
		}
	}
	a.entries[c] = e
	return nil
}

// Dir adds a directory.
func (a *Archive) Dir(p string, perm uint32) error { return a.add(p, entry{mode: modeDir | perm}) }

// File adds a regular file.
func (a *Archive) File(p string, perm uint32, data []byte) error {
	return a.add(p, entry{mode: modeFile | perm, data: data})
}

// Symlink adds a symbolic link to target.
func (a *Archive) Symlink(p, target string) error {
	return a.add(p, entry{mode: modeLink | 0o777, data: []byte(target)})
}

// CharDevice adds a character device node (e.g. /dev/console, 5:1), which
// the kernel needs before any devtmpfs is mounted.
func (a *Archive) CharDevice(p string, perm, major, minor uint32) error {
	return a.add(p, entry{mode: modeChar | perm, major: major, minor: minor})
}

// Paths lists the archive's paths in write order.
func (a *Archive) Paths() []string {
	paths := make([]string, 0, len(a.entries))
	for p := range a.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Write emits the archive: sorted entries, mtime 0, uid/gid 0, inodes
// numbered in order, then the trailer.
func (a *Archive) Write(w io.Writer) error {
	ino := uint32(1)
	for _, p := range a.Paths() {
		e := a.entries[p]
		if err := writeEntry(w, p, ino, e); err != nil {
			return err
		}
		ino++
	}
	return writeEntry(w, "TRAILER!!!", 0, entry{})
}

func writeEntry(w io.Writer, name string, ino uint32, e entry) error {
	nlink := uint32(1)
	if e.mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(name)+1, 0)
	buf := []byte(hdr + name + "\x00")
	buf = append(buf, make([]byte, pad(len(buf)))...)
	buf = append(buf, e.data...)
	buf = append(buf, make([]byte, pad(len(e.data)))...)
	_, err := w.Write(buf)
	return err
}

func pad(n int) int { return (4 - n%4) % 4 }

// Entry is one member of an archive read back.
type Entry struct {
	Path string
	Mode uint32
	Data []byte
}

// Read parses a newc archive up to its trailer, for validators and tests.
func Read(r io.Reader) ([]Entry, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for off := 0; ; {
		if off+110 > len(data) || string(data[off:off+6]) != "070701" {
			return nil, fmt.Errorf("bad newc header at offset %d", off)
		}
		field := func(i int) int {
			var v int
			fmt.Sscanf(string(data[off+6+8*i:off+14+8*i]), "%08x", &v)
			return v
		}
		mode, size, namesize := field(1), field(6), field(11)
		nameStart := off + 110
		if nameStart+namesize > len(data) || namesize == 0 {
			return nil, fmt.Errorf("truncated name at offset %d", off)
		}
		name := string(data[nameStart : nameStart+namesize-1])
		dataStart := nameStart + namesize
		dataStart += pad(dataStart)
		if dataStart+size > len(data) {
			return nil, fmt.Errorf("truncated data of %s", name)
		}
		if name == "TRAILER!!!" {
			return out, nil
		}
		out = append(out, Entry{Path: name, Mode: uint32(mode), Data: data[dataStart : dataStart+size]})
		off = dataStart + size
		off += pad(off)
	}
}
