package flash

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		job  func(t *testing.T, d disk.Disk) Job
	}{
		{"raw larger than target", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "big.img", make([]byte, d.Size+1)), Target: d}
		}},
		{"zstd declaring a larger size", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "big.img.zst", imagetest.Encode(t, catalog.Zstd, make([]byte, d.Size+4096))), Target: d}
		}},
		{"tarball", func(t *testing.T, d disk.Disk) Job { return Job{Source: image(t, "disk.tar.gz", gz), Target: d} }},
		{"unknown extension", func(t *testing.T, d disk.Disk) Job { return Job{Source: image(t, "disk.vmdk", gz), Target: d} }},
		{"misnamed data", func(t *testing.T, d disk.Disk) Job { return Job{Source: image(t, "disk.img.xz", gz), Target: d} }},
		{"bad digest syntax", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "disk.img.gz", gz), SHA256: "ABC", Target: d}
		}},
		{"missing image", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: filepath.Join(t.TempDir(), "none.img"), Target: d}
		}},
		{"target in use", func(t *testing.T, d disk.Disk) Job {
			d.InUse = []string{"disk1 is mounted on /mnt"}
			return Job{Source: image(t, "disk.img.gz", gz), Target: d}
		}},
		{"target read-only", func(t *testing.T, d disk.Disk) Job {
			d.ReadOnly = true
			return Job{Source: image(t, "disk.img.gz", gz), Target: d}
		}},
		// Issue 18: each of these was written (or reported success) before.
		{"gzip whose ISIZE exceeds the target", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "big.img.gz", imagetest.Encode(t, catalog.Gzip, imagetest.Disk(int(d.Size)+4096, 5))), Target: d}
		}},
		{"xz whose index exceeds the target", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "big.img.xz", imagetest.Encode(t, catalog.XZ, imagetest.Disk(int(d.Size)+4096, 5))), Target: d}
		}},
		{"gzip over HTTP whose ISIZE exceeds the target", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: serve(t, "big.img.gz", imagetest.Encode(t, catalog.Gzip, imagetest.Disk(int(d.Size)+4096, 5))), Target: d}
		}},
		{"tarball with --format img.gz", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "disk.tar.gz", tarGz(t)), Format: catalog.Gzip, Target: d}
		}},
		{"empty raw image", func(t *testing.T, d disk.Disk) Job { return Job{Source: image(t, "empty.img", nil), Target: d} }},
		{"empty gzip image", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "empty.img.gz", imagetest.Encode(t, catalog.Gzip, nil)), Target: d}
		}},
		{"empty zstd image", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "empty.img.zst", imagetest.Encode(t, catalog.Zstd, nil)), Target: d}
		}},
		{"empty xz image", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "empty.img.xz", imagetest.Encode(t, catalog.XZ, nil)), Target: d}
		}},
		{"qcow2 of virtual size 0", func(t *testing.T, d disk.Disk) Job {
			return Job{Source: image(t, "empty.qcow2", qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "size=0")), Target: d}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := target(t, 1<<20)
			_, err := Run(context.Background(), tc.job(t, d))
			if k, _ := kindOf(err); k != Refused {
				t.Errorf("err = %v (kind %d), want a refusal", err, k)
			}
			untouched(t, d)
		})
	}
}

// A compressed image whose size is unknown up front (bzip2 keeps none) is
// stopped at the end of the target, never written past it.
func TestStreamLargerThanTarget(t *testing.T) {
	d := target(t, 1<<20)
	_, err := Run(context.Background(), Job{Source: image(t, "big.img.bz2", imagetest.Encode(t, catalog.Bzip2, raw)), Target: d, BufferSize: 64 << 10})
	if k, unverified := kindOf(err); k != Failed || !unverified || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
	if got := contents(t, d); len(got) != 1<<20 {
		t.Errorf("target grew to %d bytes", len(got))
	}
}

func TestCorruptStreamFails(t *testing.T) {
	enc := imagetest.Encode(t, catalog.Bzip2, raw)
	d := target(t, 8<<20)
	_, err := Run(context.Background(), Job{Source: image(t, "cut.img.bz2", enc[:len(enc)/2]), Target: d})
	if k, unverified := kindOf(err); k != Failed || !unverified {
		t.Fatalf("err = %v, want a failure with unverified data", err)
	}
}

func makeQCOW2(t *testing.T, data []byte) []byte {
	in := filepath.Join(t.TempDir(), "in.raw")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return qemuImg(t, "convert", "-c", "-O", "qcow2", in)
}

// qemuImg runs qemu-img (the reference implementation) with args and an
// output file it appends, and returns the file's bytes.
func qemuImg(t *testing.T, args ...string) []byte {
	t.Helper()
	q := testenv.Tool(t, "qemu-img", "qemu-utils")
	out := filepath.Join(t.TempDir(), "out.qcow2")
	if b, err := exec.Command(q, append(args, out)...).CombinedOutput(); err != nil {
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

// serve publishes data over HTTP as name, with Range support and an ETag.
func serve(t *testing.T, name string, data []byte) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/" + name
}

func tarGz(t *testing.T) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "disk.img", Mode: 0o644, Size: 4096})
	tw.Write(raw[:4096])
	tw.Close()
	return imagetest.Encode(t, catalog.Gzip, b.Bytes())
}

// A failure says what is true of the target: nothing written, or how much.
func TestFailureSaysWhatWasWritten(t *testing.T) {
	d := target(t, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr, pw := io.Pipe() // a source that never sends a byte
	job := Job{Source: "stalled", Target: d, BufferSize: 64 << 10}
	_, err := job.write(ctx, pr, progress.Discard().Counter("write", -1), func() { pw.CloseWithError(errors.New("aborted")) })
	if k, unverified := kindOf(err); k != Failed || unverified || !strings.Contains(err.Error(), "nothing was written") || strings.Contains(err.Error(), "partial") {
		t.Errorf("interrupted before any write: err = %v (unverified %v); want 'nothing was written'", err, unverified)
	}
	untouched(t, d)

	enc := imagetest.Encode(t, catalog.Bzip2, raw)
	_, err = Run(context.Background(), Job{Source: image(t, "cut.img.bz2", enc[:len(enc)/2]), Target: target(t, 8<<20), BufferSize: 64 << 10})
	if !strings.Contains(err.Error(), "bytes of partial data") {
		t.Errorf("cut after writing: err = %v; want the count of partial bytes", err)
	}
}
