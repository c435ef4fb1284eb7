// Package imageroot reads an image root, the folder the live environment
// mounts at /var/lib/bty/images: disk image files, each with an optional
// NAME.sha256 sidecar, and an optional catalog.toml of images fetched over
// the network. `bty images` lists it and the console wizard offers it.
package imageroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/decode"
	"github.com/bty-lab/bty/bty/qcow2"
)

// Default is where the live environment mounts its images.
const Default = "/var/lib/bty/images"

// CatalogFile is the catalog's name in an image root.
const CatalogFile = "catalog.toml"

// File is one image file in the root.
type File struct {
	Name   string
	Path   string
	Format catalog.Format
	Size   int64 // bytes on disk (as fetched)
	// SHA256 is from the NAME.sha256 sidecar: lower-case hex, or "" when
	// there is none. SidecarErr says why a sidecar that exists is unusable.
	SHA256     string
	SidecarErr error
}

// Root is what an image root holds.
type Root struct {
	Dir   string
	Files []File
	// Catalog is the root's catalog.toml, nil when there is none.
	Catalog *catalog.Catalog
}

var sidecarDigest = regexp.MustCompile(`^([0-9a-fA-F]{64})\b`)

// Read lists the image files of dir (by name, in directory order, which is
// sorted) and loads its catalog. A malformed catalog is an error naming the
// file; the files are returned with it.
func Read(dir string) (*Root, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	r := &Root{Dir: dir}
	for _, e := range entries {
		format, err := catalog.FormatFromName(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		f := File{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Format: format, Size: info.Size()}
		if b, err := os.ReadFile(f.Path + ".sha256"); err == nil {
			if m := sidecarDigest.FindStringSubmatch(strings.TrimSpace(string(b))); m != nil {
				f.SHA256 = strings.ToLower(m[1])
			} else {
				f.SidecarErr = fmt.Errorf("%s.sha256 does not start with a sha256", f.Name)
			}
		}
		r.Files = append(r.Files, f)
	}
	path := filepath.Join(dir, CatalogFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	r.Catalog, err = catalog.Load(path)
	return r, err
}

// DecodedSize is at least how many bytes the file writes onto a disk (the
// exact size for raw and qcow2 images, a lower bound from the compressed
// formats' headers and trailers), or -1 when only decoding it all would
// tell (zstd without a content size, bzip2).
func (f File) DecodedSize() int64 {
	file, err := os.Open(f.Path)
	if err != nil {
		return -1
	}
	defer file.Close()
	switch f.Format {
	case catalog.Raw:
		return f.Size
	case catalog.QCOW2:
		b := make([]byte, 512)
		if _, err := file.ReadAt(b, 0); err != nil {
			return -1
		}
		h, err := qcow2.ParseHeader(b, f.Size)
		if err != nil {
			return -1
		}
		return int64(h.Size)
	case catalog.Zstd:
		// The first frame's header may carry its content size (zstd
		// writes it when it knows the input's size): a lower bound.
		b := make([]byte, zstd.HeaderMaxSize)
		n, _ := file.ReadAt(b, 0)
		var h zstd.Header
		if h.Decode(b[:n]) != nil || !h.HasFCS {
			return -1
		}
		return int64(h.FrameContentSize)
	}
	return decode.DecodedSize(f.Format, func(n int64) ([]byte, error) {
		n = min(n, f.Size)
		b := make([]byte, n)
		_, err := file.ReadAt(b, f.Size-n)
		return b, err
	})
}
