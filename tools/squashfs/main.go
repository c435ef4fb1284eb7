// Command squashfs builds a read-only squashfs image (gzip) from files,
// reproducibly: every file and directory gets the time SOURCE_DATE_EPOCH
// (default 0) and owner root, and the superblock's creation time is set to
// the same epoch.
//
//	squashfs -out live.squashfs -file bin/bty=path/to/bty [-file ...]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/squashfs"
)

type files map[string]string

func (f files) String() string { return fmt.Sprint(map[string]string(f)) }
func (f files) Set(v string) error {
	dest, src, ok := strings.Cut(v, "=")
	if !ok || dest == "" || src == "" {
		return fmt.Errorf("want DEST=SRC, got %q", v)
	}
	f[strings.TrimPrefix(path.Clean("/"+dest), "/")] = src
	return nil
}

func main() {
	fs := files{}
	out := flag.String("out", "", "output image")
	flag.Var(fs, "file", "DEST=SRC: put SRC at DEST in the image (repeatable)")
	flag.Parse()
	if err := build(*out, fs); err != nil {
		fmt.Fprintln(os.Stderr, "squashfs:", err)
		os.Exit(1)
	}
}

func epoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
	}
	return time.Unix(n, 0), nil
}

func build(out string, fs files) error {
	if out == "" || len(fs) == 0 {
		return fmt.Errorf("usage: squashfs -out FILE -file DEST=SRC ...")
	}
	t, err := epoch()
	if err != nil {
		return err
	}
	// The device size only bounds the output; the image is as large as its
	// content (the file is truncated to it below).
	var total int64
	for _, src := range fs {
		if st, err := os.Stat(src); err == nil {
			total += st.Size()
		}
	}
	limit := 2*total + 16<<20
	os.Remove(out)
	storage, err := file.CreateFromPath(out, limit)
	if err != nil {
		return err
	}
	img, err := squashfs.Create(storage, limit, 0, 0)
	if err != nil {
		return err
	}
	// Files are laid out in go-diskfs's workspace (a directory it turns
	// into the image at Finalize) with plain os calls, which also set the
	// times go-diskfs's own API cannot.
	ws := img.Workspace()
	dests := make([]string, 0, len(fs))
	for d := range fs {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	dirs := map[string]bool{".": true}
	for _, dest := range dests {
		for d := path.Dir(dest); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		data, err := os.ReadFile(fs[dest])
		if err != nil {
			return err
		}
		st, err := os.Stat(fs[dest])
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		p := filepath.Join(ws, dest)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if err := os.Chtimes(p, t, t); err != nil {
			return err
		}
	}
	for d := range dirs {
		p := filepath.Join(ws, d)
		if err := os.Chmod(p, 0o755); err != nil {
			return err
		}
		if err := os.Chtimes(p, t, t); err != nil {
			return err
		}
	}
	var root uint32
	if err := img.Finalize(squashfs.FinalizeOptions{Compression: &squashfs.CompressorGzip{CompressionLevel: 9}, FileUID: &root, FileGID: &root}); err != nil {
		return fmt.Errorf("finalizing: %w", err)
	}
	// go-diskfs stamps the superblock with the current time (offset 8,
	// "modification_time"); make it the epoch.
	f, err := os.OpenFile(out, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(t.Unix()))
	if _, err := f.WriteAt(b[:], 8); err != nil {
		return err
	}
	// bytes_used (offset 40) is the image's real size; drop the rest of the
	// preallocated device, padded to 4 KiB as mksquashfs does.
	var used [8]byte
	if _, err := f.ReadAt(used[:], 40); err != nil {
		return err
	}
	size := int64(binary.LittleEndian.Uint64(used[:]))
	if err := f.Truncate((size + 4095) &^ 4095); err != nil {
		return err
	}
	return f.Close()
}
