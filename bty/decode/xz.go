package decode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// xzFilterNames are the filter IDs of the xz format (xz-file-format 1.2,
// section 5.3): LZMA2, the delta filter and the branch-call-jump converters.
var xzFilterNames = map[uint64]string{
	0x03: "delta",
	0x04: "x86 BCJ",
	0x05: "PowerPC BCJ",
	0x06: "IA-64 BCJ",
	0x07: "ARM BCJ",
	0x08: "ARM-Thumb BCJ",
	0x09: "SPARC BCJ",
	0x0a: "ARM64 BCJ",
	0x0b: "RISC-V BCJ",
	0x21: "LZMA2",
}

// xzDecoded are the filters the decoder implements; xz's newer ARM64 and
// RISC-V converters are not among them.
var xzDecoded = map[uint64]bool{0x03: true, 0x04: true, 0x05: true, 0x06: true, 0x07: true, 0x08: true, 0x09: true, 0x21: true}

// xzBlockHeader is the part of an xz block header bty needs.
type xzBlockHeader struct {
	size     int      // bytes of the header itself
	filters  []uint64 // filter IDs, in the order they were applied
	packed   int64    // compressed size, or -1 if the header omits it
	unpacked int64    // uncompressed size, or -1 if the header omits it
}

// parseXZBlockHeader reads the block header at the start of b; b must hold
// the whole header. ok is false at the index (the stream has no more
// blocks).
func parseXZBlockHeader(b []byte) (h xzBlockHeader, ok bool, err error) {
	if len(b) == 0 {
		return h, false, io.ErrUnexpectedEOF
	}
	if b[0] == 0 {
		return h, false, nil
	}
	h.size = (int(b[0]) + 1) * 4
	if len(b) < h.size {
		return h, false, io.ErrUnexpectedEOF
	}
	hdr := b[1 : h.size-4] // without the size byte and the CRC32
	flags := hdr[0]
	hdr = hdr[1:]
	h.packed, h.unpacked = -1, -1
	for _, f := range []struct {
		bit byte
		v   *int64
	}{{0x40, &h.packed}, {0x80, &h.unpacked}} {
		if flags&f.bit != 0 {
			v, n := uvarint(hdr)
			if n == 0 {
				return h, false, errors.New("xz: bad block header")
			}
			*f.v, hdr = int64(v), hdr[n:]
		}
	}
	for range int(flags&3) + 1 {
		id, n := uvarint(hdr)
		if n == 0 {
			return h, false, errors.New("xz: bad filter flags")
		}
		hdr = hdr[n:]
		props, n := uvarint(hdr)
		if n == 0 || uint64(len(hdr)-n) < props {
			return h, false, errors.New("xz: bad filter flags")
		}
		hdr = hdr[n+int(props):]
		h.filters = append(h.filters, id)
	}
	return h, true, nil
}

// uvarint decodes xz's multibyte integer (at most 9 bytes); n is 0 when b
// holds none.
func uvarint(b []byte) (v uint64, n int) {
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// checkXZFilters refuses, before a byte is decoded, an xz stream whose first
// block uses a filter the decoder lacks (`xz --arm64` output): it would
// otherwise fail only after part of it was written to the disk.
func checkXZFilters(br *bufio.Reader) error {
	const streamHeader = 12
	b, _ := br.Peek(streamHeader + 1024)
	if len(b) <= streamHeader {
		return nil // the decoder reports the truncation
	}
	h, ok, err := parseXZBlockHeader(b[streamHeader:])
	if err != nil || !ok {
		return nil // the decoder reports a malformed or empty stream
	}
	for _, id := range h.filters {
		if xzDecoded[id] {
			continue
		}
		name, known := xzFilterNames[id]
		if !known {
			name = fmt.Sprintf("unknown filter 0x%x", id)
		}
		return fmt.Errorf("%w: the xz stream uses the %s filter, which bty does not decode; recompress it without it (xz -dc IMAGE.img.xz | xz -T0 > NEW.img.xz) or use .img.zst", ErrFormat, name)
	}
	return nil
}
