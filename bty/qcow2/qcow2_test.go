package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/klauspost/compress/zstd"
)

type kind int

const (
	unallocated kind = iota
	data
	compressed
	zeroFlag
)

// spec describes a test image: guest clusters by index and how each is stored.
type spec struct {
	version     uint32
	clusterBits uint32
	size        int64
	zstd        bool
	clusters    map[int64]kind
}

// build writes a qcow2 image for s, filling guest clusters with
// pseudo-random data, and returns it with the guest bytes it must read as.
// Layout: header, L1, one L2 per used L1 entry, data clusters, then the
// compressed clusters packed back to back (as qemu-img packs them).
func build(t testing.TB, s spec) (image, guest []byte) {
	t.Helper()
	cs := int64(1) << s.clusterBits
	l2Entries := cs / 8
	nClusters := (s.size + cs - 1) / cs
	l1Size := (nClusters + l2Entries - 1) / l2Entries
	rng := rand.New(rand.NewPCG(uint64(s.size), uint64(s.clusterBits)))
	guest = make([]byte, s.size)
	for idx, k := range s.clusters {
		if k == data || k == compressed {
			end := min((idx+1)*cs, s.size)
			for i := idx * cs; i < end; i++ {
				guest[i] = byte(rng.IntN(4)) // compressible, not constant
			}
		}
	}

	l1Off := cs
	l2Base := 2 * cs
	dataBase := l2Base + l1Size*cs
	img := make([]byte, dataBase)
	be := binary.BigEndian
	copy(img, Magic)
	be.PutUint32(img[4:], s.version)
	be.PutUint32(img[20:], s.clusterBits)
	be.PutUint64(img[24:], uint64(s.size))
	be.PutUint32(img[36:], uint32(l1Size))
	be.PutUint64(img[40:], uint64(l1Off))
	if s.version == 3 {
		be.PutUint32(img[96:], 4)
		be.PutUint32(img[100:], 112)
		if s.zstd {
			be.PutUint64(img[72:], incompatCompression)
			img[104] = 1
		}
	}
	for i := int64(0); i < l1Size; i++ {
		be.PutUint64(img[l1Off+i*8:], uint64(l2Base+i*cs)|1<<63)
	}
	var packed []byte
	type fix struct {
		l2pos int64
		off   int64
		n     int64
	}
	var fixes []fix
	for idx := int64(0); idx < nClusters; idx++ {
		k := s.clusters[idx]
		l2pos := l2Base + (idx/l2Entries)*cs + (idx%l2Entries)*8
		cluster := make([]byte, cs)
		copy(cluster, guest[idx*cs:min((idx+1)*cs, s.size)])
		switch k {
		case data:
			be.PutUint64(img[l2pos:], uint64(len(img))|1<<63)
			img = append(img, cluster...)
		case zeroFlag:
			be.PutUint64(img[l2pos:], l2ZeroFlag)
		case compressed:
			var buf bytes.Buffer
			if s.zstd {
				enc, _ := zstd.NewWriter(&buf)
				enc.Write(cluster)
				enc.Close()
			} else {
				w, _ := flate.NewWriter(&buf, flate.BestCompression)
				w.Write(cluster)
				w.Close()
			}
			fixes = append(fixes, fix{l2pos, int64(len(packed)), int64(buf.Len())})
			packed = append(packed, buf.Bytes()...)
		}
	}
	packedBase := int64(len(img))
	for _, f := range fixes {
		host := uint64(packedBase + f.off)
		sectors := (uint64(f.n)+host%512+511)/512 - 1
		x := 62 - (s.clusterBits - 8)
		be.PutUint64(img[f.l2pos:], l2Compressed|sectors<<x|host)
	}
	img = append(img, packed...)
	return img, guest
}

func readAll(t testing.TB, image []byte) ([]byte, error) {
	img, err := Open(bytes.NewReader(image), int64(len(image)))
	if err != nil {
		return nil, err
	}
	defer img.Close()
	out := make([]byte, img.Size())
	// Odd-sized reads cross cluster boundaries on purpose.
	for off := int64(0); off < img.Size(); off += 7777 {
		end := min(off+7777, img.Size())
		if _, err := img.ReadAt(out[off:end], off); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
	}
	return out, nil
}

func TestReadMixedClusters(t *testing.T) {
	for _, s := range []spec{
		{version: 3, clusterBits: 16, size: 40<<16 + 1234, clusters: map[int64]kind{0: data, 1: compressed, 2: zeroFlag, 4: data, 5: compressed, 6: compressed, 40: compressed}},
		{version: 3, clusterBits: 16, size: 8 << 16, zstd: true, clusters: map[int64]kind{0: compressed, 1: compressed, 3: data, 7: compressed}},
		{version: 2, clusterBits: 12, size: 1000<<12 + 1, clusters: map[int64]kind{0: data, 511: data, 512: compressed, 513: data, 1000: data}},
		{version: 3, clusterBits: 9, size: 300 << 9, clusters: map[int64]kind{1: compressed, 64: data, 65: zeroFlag, 299: compressed}},
	} {
		image, want := build(t, s)
		got, err := readAll(t, image)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%+v: guest bytes differ at %d", s, testenv.FirstDiff(got, want))
		}
	}
}

func TestRefusals(t *testing.T) {
	base, _ := build(t, spec{version: 3, clusterBits: 16, size: 1 << 20, clusters: map[int64]kind{0: data}})
	be := binary.BigEndian
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		want   error
	}{
		{"encrypted", func(b []byte) []byte { be.PutUint32(b[32:], 2); return b }, ErrUnsupported},
		{"backing file", func(b []byte) []byte { be.PutUint64(b[8:], 512); return b }, ErrUnsupported},
		{"marked corrupt", func(b []byte) []byte { be.PutUint64(b[72:], incompatCorrupt); return b }, ErrCorrupt},
		{"external data", func(b []byte) []byte { be.PutUint64(b[72:], incompatExternalData); return b }, ErrUnsupported},
		{"extended L2", func(b []byte) []byte { be.PutUint64(b[72:], incompatExtendedL2); return b }, ErrUnsupported},
		{"unknown feature", func(b []byte) []byte { be.PutUint64(b[72:], 1<<40); return b }, ErrUnsupported},
		{"version 4", func(b []byte) []byte { be.PutUint32(b[4:], 4); return b }, ErrUnsupported},
		{"cluster bits", func(b []byte) []byte { be.PutUint32(b[20:], 30); return b }, ErrCorrupt},
		{"L1 too small", func(b []byte) []byte { be.PutUint32(b[36:], 0); return b }, ErrCorrupt},
		{"L1 outside file", func(b []byte) []byte { be.PutUint64(b[40:], 1<<40); return b }, ErrCorrupt},
		{"truncated header", func(b []byte) []byte { return b[:50] }, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(bytes.Clone(base))
			_, err := Open(bytes.NewReader(b), int64(len(b)))
			if !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Open(bytes.NewReader(make([]byte, 512)), 512); err == nil {
		t.Errorf("Open of zeros succeeded")
	}
}

// Damage found only while reading (a cut file, a broken compressed
// cluster) is an error, never silently zero-filled data.
func TestCorruptDataFailsRead(t *testing.T) {
	image, _ := build(t, spec{version: 3, clusterBits: 16, size: 4 << 16, clusters: map[int64]kind{0: data, 1: data, 2: compressed}})
	cut := image[:len(image)-(1<<16)]
	if _, err := readAll(t, cut); !errors.Is(err, ErrCorrupt) {
		t.Errorf("reading a truncated image: %v, want ErrCorrupt", err)
	}
	// Raw deflate carries no checksum, so only structural damage is
	// detectable: 0xff starts a block of the reserved type 3.
	// The compressed cluster is packed after the header, L1, one L2 and the
	// two data clusters: five 64 KiB clusters in.
	broken := bytes.Clone(image)
	for i := 5 << 16; i < len(broken); i++ {
		broken[i] = 0xff
	}
	if _, err := readAll(t, broken); !errors.Is(err, ErrCorrupt) {
		t.Errorf("reading a damaged compressed cluster: %v, want ErrCorrupt", err)
	}
}

// qemu-img, the reference implementation, writes images we must read back
// byte for byte: plain, deflate-compressed and zstd-compressed.
func TestAgainstQemuImg(t *testing.T) {
	qemuImg := testenv.Tool(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	raw := make([]byte, 3<<20+4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		if (i>>16)%3 != 1 { // leave every third 64 KiB zero
			raw[i] = byte(rng.IntN(8))
		}
	}
	rawPath := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"plain":   {"-O", "qcow2"},
		"deflate": {"-c", "-O", "qcow2"},
		"zstd":    {"-c", "-O", "qcow2", "-o", "compression_type=zstd"},
		"v2":      {"-O", "qcow2", "-o", "compat=0.10,cluster_size=4096"},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name+".qcow2")
			cmd := exec.Command(qemuImg, append(append([]string{"convert"}, args...), rawPath, out)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, b)
			}
			image, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, image)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("guest bytes differ from the raw image at %d", testenv.FirstDiff(got, raw))
			}
		})
	}
}

// FuzzOpen feeds arbitrary bytes (seeded with valid images) to the header,
// L1 and L2 parsing and the cluster reader: no input may panic, hang or
// allocate without bound.
func FuzzOpen(f *testing.F) {
	for _, s := range []spec{
		{version: 3, clusterBits: 9, size: 40 << 9, clusters: map[int64]kind{0: data, 1: compressed, 2: zeroFlag}},
		{version: 2, clusterBits: 9, size: 70 << 9, clusters: map[int64]kind{0: data, 65: data}},
		{version: 3, clusterBits: 9, size: 8 << 9, zstd: true, clusters: map[int64]kind{0: compressed}},
	} {
		image, _ := build(f, s)
		f.Add(image)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		defer img.Close()
		buf := make([]byte, 4096)
		// Sample the guest space: the start, the end and a few in between.
		for _, off := range []int64{0, img.Size() / 3, img.Size() / 2, img.Size() - 1} {
			if off >= 0 && off < img.Size() {
				img.ReadAt(buf, off)
			}
		}
	})
}
