package flash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/disk"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/internal/testenv"
)

const pattern = 0xAA

// target makes a file standing in for a disk of size bytes, filled with a
// pattern so untouched and written bytes are told apart.
func target(t *testing.T, size int) disk.Disk {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(p, bytes.Repeat([]byte{pattern}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return disk.Disk{Name: "disk", Path: p, Size: int64(size)}
}

func image(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func contents(t *testing.T, d disk.Disk) []byte {
	t.Helper()
	b, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func untouched(t *testing.T, d disk.Disk) {
	t.Helper()
	if !bytes.Equal(contents(t, d), bytes.Repeat([]byte{pattern}, int(d.Size))) {
		t.Errorf("target %s was modified", d.Path)
	}
}

func kindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, e.Unverified
	}
	return 0, false
}

var raw = imagetest.Disk(5<<20+1000, 3) // not a multiple of the buffer or block size

func TestEveryStreamedFormat(t *testing.T) {
	for _, f := range []catalog.Format{catalog.Raw, catalog.Gzip, catalog.Zstd, catalog.XZ, catalog.Bzip2} {
		t.Run(string(f), func(t *testing.T) {
			enc := imagetest.Encode(t, f, raw)
			d := target(t, 8<<20)
			var out bytes.Buffer
			res, err := Run(context.Background(), Job{
				Source: image(t, "disk."+string(f), enc), SHA256: digest(enc), Target: d,
				Progress: progress.New(&out, false), BufferSize: 1 << 20,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := contents(t, d)
			if !bytes.Equal(got[:len(raw)], raw) {
				t.Errorf("target differs from the raw image at %d", testenv.FirstDiff(got, raw))
			}
			if !bytes.Equal(got[len(raw):], bytes.Repeat([]byte{pattern}, len(got)-len(raw))) {
				t.Errorf("bytes past the image were touched")
			}
			if res.Written != int64(len(raw)) || res.Fetched != int64(len(enc)) || res.SHA256 != digest(enc) || res.Format != f {
				t.Errorf("result = %+v", res)
			}
			for _, m := range []string{"bty: download 100%", "bty: write 25%", "bty: write 100%"} {
				if !strings.Contains(out.String(), m) {
					t.Errorf("progress lacks %q:\n%s", m, out.String())
				}
			}
		})
	}
}

// A wrong digest on a streamed image is found after writing: exit 4 and a
// loud statement that the target holds unverified data.
func TestWrongDigestStreamed(t *testing.T) {
	enc := imagetest.Encode(t, catalog.Zstd, raw)
	d := target(t, 8<<20)
	_, err := Run(context.Background(), Job{Source: image(t, "a.img.zst", enc), SHA256: strings.Repeat("0", 64), Target: d})
	if k, unverified := kindOf(err); k != Failed || !unverified || !strings.Contains(err.Error(), "UNVERIFIED") {
		t.Fatalf("err = %v (kind %d, unverified %v)", err, k, unverified)
	}
}

func TestRefusals(t *testing.T) {
	gz := imagetest.Encode(t, catalog.Gzip, raw)
	for _, tc := range []struct {
		name string
		job  func(d disk.Disk) Job
	}{
		{"raw larger than target", func(d disk.Disk) Job { return Job{Source: image(t, "big.img", make([]byte, d.Size+1)), Target: d} }},
		{"zstd declaring a larger size", func(d disk.Disk) Job {
			return Job{Source: image(t, "big.img.zst", imagetest.Encode(t, catalog.Zstd, make([]byte, d.Size+4096))), Target: d}
		}},
		{"tarball", func(d disk.Disk) Job { return Job{Source: image(t, "disk.tar.gz", gz), Target: d} }},
		{"unknown extension", func(d disk.Disk) Job { return Job{Source: image(t, "disk.vmdk", gz), Target: d} }},
		{"misnamed data", func(d disk.Disk) Job { return Job{Source: image(t, "disk.img.xz", gz), Target: d} }},
		{"bad digest syntax", func(d disk.Disk) Job { return Job{Source: image(t, "disk.img.gz", gz), SHA256: "ABC", Target: d} }},
		{"missing image", func(d disk.Disk) Job { return Job{Source: filepath.Join(t.TempDir(), "none.img"), Target: d} }},
		{"target in use", func(d disk.Disk) Job {
			d.InUse = []string{"disk1 is mounted on /mnt"}
			return Job{Source: image(t, "disk.img.gz", gz), Target: d}
		}},
		{"target read-only", func(d disk.Disk) Job {
			d.ReadOnly = true
			return Job{Source: image(t, "disk.img.gz", gz), Target: d}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := target(t, 1<<20)
			_, err := Run(context.Background(), tc.job(d))
			if k, _ := kindOf(err); k != Refused {
				t.Errorf("err = %v (kind %d), want a refusal", err, k)
			}
			untouched(t, d)
		})
	}
}

// A compressed image whose size is unknown up front is stopped at the end of
// the target, never written past it.
func TestStreamLargerThanTarget(t *testing.T) {
	d := target(t, 1<<20)
	_, err := Run(context.Background(), Job{Source: image(t, "big.img.gz", imagetest.Encode(t, catalog.Gzip, raw)), Target: d, BufferSize: 64 << 10})
	if k, unverified := kindOf(err); k != Failed || !unverified || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
	if got := contents(t, d); len(got) != 1<<20 {
		t.Errorf("target grew to %d bytes", len(got))
	}
}

func TestCorruptStreamFails(t *testing.T) {
	enc := imagetest.Encode(t, catalog.Gzip, raw)
	d := target(t, 8<<20)
	_, err := Run(context.Background(), Job{Source: image(t, "cut.img.gz", enc[:len(enc)/2]), Target: d})
	if k, unverified := kindOf(err); k != Failed || !unverified {
		t.Fatalf("err = %v, want a failure with unverified data", err)
	}
}

func makeQCOW2(t *testing.T, data []byte) []byte {
	q := testenv.Tool(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.raw"), filepath.Join(dir, "out.qcow2")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(q, "convert", "-c", "-O", "qcow2", in, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQCOW2(t *testing.T) {
	data := raw[:4<<20] // qemu-img sizes images in whole sectors
	q := makeQCOW2(t, data)
	d := target(t, 8<<20)
	if _, err := Run(context.Background(), Job{Source: image(t, "disk.qcow2", q), SHA256: digest(q), Target: d}); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, d); !bytes.Equal(got[:len(data)], data) {
		t.Errorf("target differs from the raw image at %d", testenv.FirstDiff(got, data))
	}

	// A wrong digest is found before anything is written.
	d2 := target(t, 8<<20)
	_, err := Run(context.Background(), Job{Source: image(t, "disk.qcow2", q), SHA256: strings.Repeat("1", 64), Target: d2})
	if k, unverified := kindOf(err); k != Failed || unverified || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("err = %v", err)
	}
	untouched(t, d2)

	// A virtual size larger than the target is refused up front.
	d3 := target(t, 1<<20)
	if _, err := Run(context.Background(), Job{Source: image(t, "disk.qcow2", q), Target: d3}); func() Kind { k, _ := kindOf(err); return k }() != Refused {
		t.Fatalf("err = %v, want a refusal", err)
	}
	untouched(t, d3)
}
