// Package imagetest makes test disk images in every streamed format, with
// real encoders (the same libraries people's tools use), for the tests of
// the decoders, the flasher and the end-to-end flash test.
package imagetest

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/gpt"
)

// Encode returns raw encoded as format f (qcow2 excluded: tests make those
// with qemu-img, the reference implementation).
func Encode(t testing.TB, f catalog.Format, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch f {
	case catalog.Raw:
		return bytes.Clone(raw)
	case catalog.Gzip:
		w := gzip.NewWriter(&buf)
		if _, err = w.Write(raw); err == nil {
			err = w.Close()
		}
	case catalog.Zstd:
		// EncodeAll records the content size in the frame header, as the
		// zstd command does for files.
		var w *zstd.Encoder
		if w, err = zstd.NewWriter(nil); err == nil {
			buf.Write(w.EncodeAll(raw, nil))
			err = w.Close()
		}
	case catalog.XZ:
		var w *xz.Writer
		if w, err = xz.NewWriter(&buf); err == nil {
			if _, err = w.Write(raw); err == nil {
				err = w.Close()
			}
		}
	case catalog.Bzip2:
		var w *bzip2.Writer
		if w, err = bzip2.NewWriter(&buf, nil); err == nil {
			if _, err = w.Write(raw); err == nil {
				err = w.Close()
			}
		}
	default:
		t.Fatalf("imagetest: cannot encode %q", f)
	}
	if err != nil {
		t.Fatalf("encoding %s: %v", f, err)
	}
	return buf.Bytes()
}

// Disk returns n bytes that look like a disk: a boot-sector-like start,
// random blocks and long zero runs, deterministic for a seed.
func Disk(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		if rng.IntN(3) == 0 {
			continue // a zero block
		}
		end := min(i+4096, n)
		for j := i; j < end; j++ {
			b[j] = byte(rng.IntN(16)) // compressible but not trivial
		}
	}
	if n >= 512 {
		b[510], b[511] = 0x55, 0xaa
	}
	return b
}

// GPTDisk is Disk with a GUID partition table over it: one partition from
// 1 MiB to 1 MiB before the end, both table copies inside the n bytes (as
// an OS image has them), deterministic for a seed.
func GPTDisk(t testing.TB, n int, seed uint64) []byte {
	t.Helper()
	b := Disk(n, seed)
	sectors := uint64(n / gpt.SectorSize)
	tab := gpt.Table{DiskGUID: gpt.MustGUID("0B7E0000-0000-4000-8000-00000000D15C"), Partitions: []gpt.Partition{
		{Type: gpt.TypeBasicData, GUID: gpt.MustGUID("0B7E0000-0000-4000-8000-00000000D15D"), First: 2048, Last: sectors - 2049, Name: "root"}}}
	if err := gpt.Write(sliceAt(b), sectors, tab); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	return b
}

// sliceAt writes into a byte slice at offsets.
type sliceAt []byte

func (s sliceAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s)) {
		return 0, io.ErrShortWrite
	}
	return copy(s[off:], p), nil
}
