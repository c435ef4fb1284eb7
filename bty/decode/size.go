package decode

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/bty-lab/bty/bty/catalog"
)

// DecodedSize returns a lower bound of the decoded size of an image of
// format f from the end of the file, or -1 when the format keeps no size
// there. tail(n) returns the file's last n bytes. gzip's ISIZE is the size
// modulo 2^32 of the last member (a lower bound of the whole); xz's index
// lists every block of the last stream. It lets the flasher refuse an image
// larger than the target before writing, instead of filling the disk.
func DecodedSize(f catalog.Format, tail func(n int64) ([]byte, error)) int64 {
	if tail == nil {
		return -1
	}
	switch f {
	case catalog.Gzip:
		b, err := tail(4)
		if err != nil || len(b) != 4 {
			return -1
		}
		return int64(binary.LittleEndian.Uint32(b))
	case catalog.XZ:
		return xzIndexSize(tail)
	}
	return -1
}

// xzIndexSize sums the uncompressed sizes in the index of the last xz
// stream (xz-file-format 1.2, sections 2.1.2 and 4), or returns -1.
func xzIndexSize(tail func(n int64) ([]byte, error)) int64 {
	const footerLen = xzHeaderLen
	b, err := tail(4096)
	if err != nil {
		return -1
	}
	// Stream padding: zero bytes, a multiple of four.
	pad := 0
	for len(b)-pad >= 4 && bytes.Equal(b[len(b)-pad-4:len(b)-pad], []byte{0, 0, 0, 0}) {
		pad += 4
	}
	b = b[:len(b)-pad]
	if len(b) < footerLen || !bytes.Equal(b[len(b)-2:], []byte("YZ")) {
		return -1
	}
	footer := b[len(b)-footerLen:]
	indexLen := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	if !bytes.Equal(footer, xzFooter(int(indexLen), footer[8:10])) {
		return -1
	}
	if indexLen > 16<<20 {
		return -1
	}
	all, err := tail(indexLen + footerLen + int64(pad))
	if err != nil || int64(len(all)) != indexLen+footerLen+int64(pad) {
		return -1
	}
	index := all[:indexLen]
	if index[0] != 0 || crc32.ChecksumIEEE(index[:indexLen-4]) != binary.LittleEndian.Uint32(index[indexLen-4:]) {
		return -1
	}
	rest := index[1 : indexLen-4]
	records, n := uvarint(rest)
	if n == 0 {
		return -1
	}
	rest = rest[n:]
	var total int64
	for range records {
		if _, n = uvarint(rest); n == 0 {
			return -1
		}
		rest = rest[n:]
		size, m := uvarint(rest)
		if m == 0 {
			return -1
		}
		rest = rest[m:]
		total += int64(size)
	}
	return total
}
