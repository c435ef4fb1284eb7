package decode

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/internal/testenv"
)

// payload is disk-like test data.
func payload(n int) []byte { return imagetest.Disk(n, 7) }

var streamed = []catalog.Format{catalog.Raw, catalog.Gzip, catalog.Zstd, catalog.XZ, catalog.Bzip2}

func TestRoundTrip(t *testing.T) {
	raw := payload(1<<20 + 17)
	for _, f := range streamed {
		t.Run(string(f), func(t *testing.T) {
			if got := decodeAll(t, f, imagetest.Encode(t, f, raw)); !bytes.Equal(got, raw) {
				t.Errorf("decoded %d bytes, differ from the %d raw bytes", len(got), len(raw))
			}
		})
	}
}

// A cut or damaged stream is an error, never a short or altered image.
func TestTruncatedAndCorrupt(t *testing.T) {
	raw := payload(1 << 20)
	for _, f := range streamed[1:] {
		enc := imagetest.Encode(t, f, raw)
		cut := enc[:len(enc)/2]
		damaged := bytes.Clone(enc)
		for i := len(enc) / 2; i < len(enc)/2+16; i++ {
			damaged[i] ^= 0x55
		}
		for name, in := range map[string][]byte{"truncated": cut, "corrupt": damaged} {
			t.Run(string(f)+"/"+name, func(t *testing.T) {
				r, err := Stream(f, bytes.NewReader(in))
				if err == nil {
					var got []byte
					got, err = io.ReadAll(r)
					r.Close()
					if err == nil && bytes.Equal(got, raw) {
						t.Fatalf("damaged input decoded to the original bytes")
					}
				}
				if err == nil {
					t.Errorf("decoding a %s %s stream succeeded", name, f)
				}
			})
		}
	}
}

func TestWrongFormat(t *testing.T) {
	raw := payload(4096)
	gz := imagetest.Encode(t, catalog.Gzip, raw)
	for _, tc := range []struct {
		named catalog.Format
		data  []byte
	}{
		{catalog.Zstd, gz},
		{catalog.Raw, gz},
		{catalog.Gzip, raw},
		{catalog.XZ, nil},
	} {
		if _, err := Stream(tc.named, bytes.NewReader(tc.data)); !errors.Is(err, ErrFormat) {
			t.Errorf("Stream(%s) of other data: %v, want ErrFormat", tc.named, err)
		}
	}
	if _, err := Stream(catalog.QCOW2, bytes.NewReader(nil)); err == nil {
		t.Errorf("Stream(qcow2) succeeded")
	}
}

func TestSniff(t *testing.T) {
	raw := payload(4096)
	for _, f := range streamed[1:] {
		if got := Sniff(imagetest.Encode(t, f, raw)); got != f {
			t.Errorf("Sniff(%s data) = %q", f, got)
		}
	}
	if got := Sniff(raw); got != "" {
		t.Errorf("Sniff(raw) = %q, want none", got)
	}
}

// An archive is never flashable, whatever format it is named as (issue 18:
// a tarball named .img.gz put its tar header in sector 0).
func TestArchivesRefused(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "disk.img", Mode: 0o644, Size: 4096})
	tw.Write(payload(4096))
	tw.Close()
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("disk.img")
	w.Write(payload(4096))
	zw.Close()
	xzInGzip := imagetest.Encode(t, catalog.XZ, payload(4096))
	for _, tc := range []struct {
		name  string
		f     catalog.Format
		inner []byte
	}{
		{"tar as img.gz", catalog.Gzip, tarball.Bytes()},
		{"tar as img", catalog.Raw, tarball.Bytes()},
		{"zip as img.zst", catalog.Zstd, zipped.Bytes()},
		{"xz inside img.gz", catalog.Gzip, xzInGzip},
	} {
		_, err := Stream(tc.f, bytes.NewReader(imagetest.Encode(t, tc.f, tc.inner)))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "extract the image first") {
			t.Errorf("%s: err = %v, want ErrFormat with the extract hint", tc.name, err)
		}
	}
}

// pzstd (and seekable zstd) output starts with a skippable frame.
func TestZstdSkippableFrame(t *testing.T) {
	raw := payload(1 << 20)
	skip := []byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4}
	made := append(skip, imagetest.Encode(t, catalog.Zstd, raw)...)
	cases := map[string][]byte{"skippable frame + frame": made}
	pzstd := testenv.Tool(t, "pzstd", "zstd")
	in := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(in, raw, 0o644)
	if out, err := exec.Command(pzstd, "-q", "-p", "2", in, "-o", in+".zst").CombinedOutput(); err != nil {
		t.Fatalf("pzstd: %v\n%s", err, out)
	}
	cases["pzstd"], _ = os.ReadFile(in + ".zst")
	for name, enc := range cases {
		if got := decodeAll(t, catalog.Zstd, enc); !bytes.Equal(got, raw) {
			t.Errorf("%s: decoded %d bytes, differ from the %d raw bytes", name, len(got), len(raw))
		}
	}
}

// gzip -d ignores zero padding after the last member and decodes every
// concatenated member; anything else after a member is an error.
func TestGzipMembersAndPadding(t *testing.T) {
	a, b := payload(100_000), payload(50_000)
	ga, gb := imagetest.Encode(t, catalog.Gzip, a), imagetest.Encode(t, catalog.Gzip, b)
	if got := decodeAll(t, catalog.Gzip, append(bytes.Clone(ga), make([]byte, 4096)...)); !bytes.Equal(got, a) {
		t.Errorf("zero-padded gzip decoded to %d bytes, want %d", len(got), len(a))
	}
	if got := decodeAll(t, catalog.Gzip, append(bytes.Clone(ga), gb...)); !bytes.Equal(got, append(bytes.Clone(a), b...)) {
		t.Errorf("two members decoded to %d bytes, want %d", len(got), len(a)+len(b))
	}
	r, err := Stream(catalog.Gzip, bytes.NewReader(append(bytes.Clone(ga), "garbage"...)))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Error("gzip followed by garbage decoded without an error")
	}
}

// xz's BCJ and delta filters decode as xz -dc decodes them; a filter the
// decoder lacks is refused before anything is decoded, by name.
func TestXZFilters(t *testing.T) {
	xzTool := testenv.Tool(t, "xz", "xz-utils")
	raw := payload(1 << 20)
	xzc := func(flags ...string) []byte {
		cmd := exec.Command(xzTool, append([]string{"-c"}, flags...)...)
		cmd.Stdin = bytes.NewReader(raw)
		enc, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", flags, err)
		}
		return enc
	}
	for _, flag := range []string{"--x86", "--delta=dist=4", "--arm", "--sparc"} {
		if got := decodeAll(t, catalog.XZ, xzc(flag, "--lzma2=preset=1")); !bytes.Equal(got, raw) {
			t.Errorf("xz %s: decoded %d bytes, differ from the raw bytes", flag, len(got))
		}
	}
	for flag, name := range map[string]string{"--arm64": "ARM64 BCJ"} {
		_, err := Stream(catalog.XZ, bytes.NewReader(xzc(flag, "--lzma2=preset=1")))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "the "+name+" filter") {
			t.Errorf("xz %s: err = %v, want ErrFormat naming the %s filter", flag, err, name)
		}
	}
	cmd := exec.Command(xzTool, "-c", "-1")
	cmd.Stdin = bytes.NewReader(raw)
	enc, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeAll(t, catalog.XZ, enc); !bytes.Equal(got, raw) {
		t.Error("plain xz output no longer decodes")
	}
}

func decodeAll(t *testing.T, f catalog.Format, enc []byte) []byte {
	t.Helper()
	r, err := Stream(f, bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Multi-threaded xz output (blocks that declare their sizes) is decoded in
// parallel, each block's check verified; every check type, concatenated
// streams and stream padding decode as xz -dc decodes them, and damage is
// an error.
func TestXZParallel(t *testing.T) {
	xzTool := testenv.Tool(t, "xz", "xz-utils")
	raw := payload(5<<20 + 4321)
	encode := func(args ...string) []byte {
		cmd := exec.Command(xzTool, append([]string{"-c", "-T2", "--block-size=1MiB", "-1"}, args...)...)
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz %v: %v", args, err)
		}
		return out
	}
	plain := encode()
	br := bufio.NewReader(bytes.NewReader(plain))
	dec, err := newXZ(br)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dec.(*parallelXZ); !ok {
		t.Fatalf("xz -T2 output decoded by %T, want the parallel decoder", dec)
	}
	dec.Close()
	for name, enc := range map[string][]byte{
		"crc64":        plain,
		"crc32":        encode("--check=crc32"),
		"sha256":       encode("--check=sha256"),
		"none":         encode("--check=none"),
		"two streams":  append(bytes.Clone(plain), encode("--check=crc32")...),
		"with padding": append(bytes.Clone(plain), 0, 0, 0, 0, 0, 0, 0, 0),
	} {
		want := raw
		if name == "two streams" {
			want = append(bytes.Clone(raw), raw...)
		}
		if got := decodeAll(t, catalog.XZ, enc); !bytes.Equal(got, want) {
			t.Errorf("%s: decoded %d bytes, want %d", name, len(got), len(want))
		}
	}
	damaged := bytes.Clone(plain)
	damaged[len(damaged)/2] ^= 0x40
	for name, enc := range map[string][]byte{
		"damaged":   damaged,
		"truncated": plain[:len(plain)*3/4],
		"bad pad":   append(bytes.Clone(plain), 0, 0),
		"garbage":   append(bytes.Clone(plain), "junk"...),
	} {
		r, err := Stream(catalog.XZ, bytes.NewReader(enc))
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		if err == nil {
			t.Errorf("%s xz stream decoded without an error", name)
		}
	}
}
