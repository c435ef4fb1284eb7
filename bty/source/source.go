// Package source opens the bytes of an image wherever they are: a local
// path, an http(s):// URL, or an oras:// reference (an OCI artifact whose
// single layer is the image).
//
// Bytes are returned exactly as stored (no transparent decompression), so
// their sha256 can be checked against the catalog. A dropped HTTP transfer
// resumes only with a Range request at the exact offset, checked against
// the same version of the file (or, when the caller checks the digest,
// with no validator); otherwise it fails with ErrNotResumable. It never
// restarts from byte 0 itself: the caller is already writing those bytes
// to a disk, and only it can start the disk over (package flash does).
package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Source is an opened image.
type Source struct {
	io.ReadCloser
	// Name is the image's file name (for format detection).
	Name string
	// Size is the number of bytes Read will return, or -1 if unknown.
	Size int64
	// File is set for local files, which also allow random access.
	File *os.File
	// Tail, when set, returns the last n bytes of the same file without
	// disturbing the stream: where compressed formats keep their size
	// (gzip's ISIZE, xz's index), so a too-large image is refused before
	// anything is written.
	Tail func(n int64) ([]byte, error)
}

// Options tune how sources are opened.
type Options struct {
	// HTTP configures http(s) sources; zero values take defaults.
	HTTP HTTPOptions
	// Registry configures oras:// sources.
	Registry RegistryOptions
}

// Open opens src: "http://...", "https://...", "oras://..." or a file path.
func Open(ctx context.Context, src string, opts Options) (*Source, error) {
	switch {
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		return openHTTP(ctx, src, opts.HTTP)
	case strings.HasPrefix(src, "oras://"):
		return openORAS(ctx, strings.TrimPrefix(src, "oras://"), opts.Registry)
	case strings.HasPrefix(src, "file://"):
		return openFile(strings.TrimPrefix(src, "file://"))
	case strings.Contains(src, "://"):
		return nil, fmt.Errorf("image source %q: unsupported scheme; use a path, http(s):// or oras://", src)
	}
	return openFile(src)
}

// OpenHTTP opens an http(s) URL only. Programs that fetch nothing else
// (bty-init's squashfs) call it rather than Open, so the linker leaves
// out the registry client Open's oras:// support needs.
func OpenHTTP(ctx context.Context, url string, opts HTTPOptions) (*Source, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", url)
	}
	return openHTTP(ctx, url, opts)
}

func openFile(p string) (*Source, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening image: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening image: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("image %q is not a regular file", p)
	}
	tail := func(n int64) ([]byte, error) {
		n = min(n, st.Size())
		b := make([]byte, n)
		_, err := f.ReadAt(b, st.Size()-n)
		return b, err
	}
	return &Source{ReadCloser: f, Name: path.Base(p), Size: st.Size(), File: f, Tail: tail}, nil
}
