package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// gzipReader decodes every member of a gzip file, as gzip -d does: members
// are concatenated, and zero bytes after the last one (padding added by
// tape and block-device tools) are ignored. Anything else after a member is
// an error, not silently dropped data.
type gzipReader struct {
	br *bufio.Reader
	zr *gzip.Reader
}

func newGzip(br *bufio.Reader) (Reader, error) {
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	zr.Multistream(false)
	return &gzipReader{br: br, zr: zr}, nil
}

func (g *gzipReader) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if !errors.Is(err, io.EOF) {
			return n, err
		}
		// The end of a member: another member, zero padding, or the end.
		more, err2 := g.next()
		if err2 != nil {
			return n, err2
		}
		if !more {
			return n, io.EOF
		}
		if n > 0 {
			return n, nil
		}
	}
}

// next prepares the member after the current one and reports whether there
// is one; it consumes trailing zero padding.
func (g *gzipReader) next() (bool, error) {
	head, err := g.br.Peek(2)
	switch {
	case len(head) == 0 && errors.Is(err, io.EOF):
		return false, nil
	case bytes.Equal(head, []byte{0x1f, 0x8b}):
		if err := g.zr.Reset(g.br); err != nil {
			return false, fmt.Errorf("gzip: next member: %w", err)
		}
		g.zr.Multistream(false)
		return true, nil
	}
	for {
		b, err := g.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("gzip: %w", err)
		}
		if b != 0 {
			return false, errors.New("gzip: data after the last member that is neither another member nor zero padding")
		}
	}
}

func (g *gzipReader) Close() error { return g.zr.Close() }
