// Package decode turns a stream of image bytes, as fetched, into the raw
// disk bytes to write, for every streamed format: img, img.gz, img.zst,
// img.xz and img.bz2. All decoders are pure Go. qcow2 needs random access
// and lives in package qcow2.
//
// Each decoder first checks the format's magic bytes, so a misnamed file
// fails before a single byte is written, with a message saying what the
// data looks like instead.
package decode

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/qcow2"
)

// ErrFormat marks data that does not match the format it was named as.
var ErrFormat = errors.New("data does not match its format")

var magics = []struct {
	format catalog.Format
	magic  []byte
}{
	{catalog.Gzip, []byte{0x1f, 0x8b}},
	{catalog.Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{catalog.XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{catalog.Bzip2, []byte("BZh")},
	{catalog.QCOW2, qcow2.Magic},
}

// Sniff names the compressed format whose magic starts b, or "" for none
// (raw disk images have no magic).
func Sniff(b []byte) catalog.Format {
	for _, m := range magics {
		if bytes.HasPrefix(b, m.magic) {
			return m.format
		}
	}
	// pzstd and seekable zstd start with a skippable frame (magic
	// 0x184D2A50-5F, little-endian), which the decoder steps over.
	if len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18 {
		return catalog.Zstd
	}
	return ""
}

// archive names the archive format whose signature the first decoded bytes
// of an image carry, or "": a tarball or zip compressed as .img.gz is still
// an archive, and writing it to a disk would make a disk nobody can boot.
func archive(head []byte) string {
	switch {
	case len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")):
		return "a tar archive"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive"
	case bytes.HasPrefix(head, []byte("7z\xbc\xaf\x27\x1c")):
		return "a 7-Zip archive"
	}
	if f := Sniff(head); f != "" && f != catalog.QCOW2 {
		return "itself " + string(f) + " compressed"
	}
	return ""
}

// Reader is a decoded stream; Close releases decoder resources but not the
// underlying reader.
type Reader interface {
	io.Reader
	io.Closer
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func nop() error { return nil }

// Stream returns a reader of the raw disk bytes encoded in r as format f.
// qcow2 is refused here: it cannot be decoded from a stream. Data that
// decodes to an archive (a tarball named .img.gz) is refused before a byte
// is returned, whatever format it was named as.
func Stream(f catalog.Format, r io.Reader) (Reader, error) {
	dec, err := stream(f, r)
	if err != nil {
		return nil, err
	}
	// Decode the first sectors now: an archive is refused before anything
	// is written, and so is a stream whose start cannot be decoded.
	out := bufio.NewReaderSize(dec, 64<<10)
	head, err := out.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		dec.Close()
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	if what := archive(head); what != "" {
		dec.Close()
		return nil, fmt.Errorf("%w: the data named .%s is %s, not a disk image: %w; extract the image first and use the .img (or .img.gz, .img.zst, ...) inside", ErrFormat, f, what, catalog.ErrArchive)
	}
	return readCloser{out, dec.Close}, nil
}

func stream(f catalog.Format, r io.Reader) (Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(8)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading image header: %w", err)
	}
	got := Sniff(head)
	if f == catalog.Raw {
		if got != "" {
			return nil, fmt.Errorf("%w: named .img (raw) but the data is %s; rename it to .%s", ErrFormat, got, got)
		}
		return readCloser{br, nop}, nil
	}
	if got != f {
		what := "raw or unknown data"
		if got != "" {
			what = string(got) + " data"
		}
		return nil, fmt.Errorf("%w: named .%s but the data is %s", ErrFormat, f, what)
	}
	switch f {
	case catalog.Gzip:
		return newGzip(br)
	case catalog.Zstd:
		// One decoding goroutine and a bounded window keep memory small
		// (the live environment runs from RAM); a 128 MiB window covers
		// zstd --long up to level 27.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return readCloser{zr, func() error { zr.Close(); return nil }}, nil
	case catalog.XZ:
		return newXZ(br)
	case catalog.Bzip2:
		return readCloser{bzip2.NewReader(br), nop}, nil
	case catalog.QCOW2:
		return nil, fmt.Errorf("qcow2 cannot be streamed; open it with package qcow2")
	}
	return nil, fmt.Errorf("unknown format %q", f)
}
