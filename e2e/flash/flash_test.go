// Package flash_test runs the real bty binary against real loop devices: every
// format, digests right and wrong, mounted and too-small targets, archives,
// and HTTP transfers that break half-way.
//
// It needs root and /dev/loop-control. Without them it skips with the reason
// under `go test`, and fails under CI, where it must run.
package flash_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/loopdev"
	"github.com/bty-lab/bty/internal/testenv"
)

const pattern = 0x5a

var raw = imagetest.Disk(12<<20+3*512, 42)

// bty is the binary under test.
func bty(t *testing.T) string {
	return testenv.Binary(t, "BTY_BINARY", "github.com/bty-lab/bty/bty/cmd/bty")
}

// disk attaches a fresh loop device of size bytes filled with a pattern.
func disk(t *testing.T, size int, partitioned bool) *loopdev.Device {
	t.Helper()
	testenv.Require(t, "loop devices", loopdev.Available())
	backing := filepath.Join(t.TempDir(), "backing")
	content := bytes.Repeat([]byte{pattern}, size)
	if partitioned {
		mbr(content, 2048, uint32(size/512-2048))
	}
	if err := os.WriteFile(backing, content, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := loopdev.Attach(backing, partitioned)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Detach() })
	return d
}

// mbr writes a DOS partition table with one Linux partition.
func mbr(b []byte, start, sectors uint32) {
	clear(b[:512])
	e := b[446:]
	e[4] = 0x83
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], sectors)
	b[510], b[511] = 0x55, 0xaa
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type result struct {
	code   int
	stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bty(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stderr.String()}
}

func file(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func qcow2(t *testing.T, data []byte) []byte {
	t.Helper()
	q := testenv.Tool(t, "qemu-img", "qemu-utils")
	in := file(t, "in.raw", data)
	out := filepath.Join(t.TempDir(), "out.qcow2")
	if b, err := exec.Command(q, "convert", "-c", "-O", "qcow2", in, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, b)
	}
	return read(t, out)
}

func TestEveryFormat(t *testing.T) {
	for _, f := range []catalog.Format{catalog.Raw, catalog.Gzip, catalog.Zstd, catalog.XZ, catalog.Bzip2, catalog.QCOW2} {
		t.Run(string(f), func(t *testing.T) {
			var enc []byte
			if f == catalog.QCOW2 {
				enc = qcow2(t, raw)
			} else {
				enc = imagetest.Encode(t, f, raw)
			}
			d := disk(t, 16<<20, false)
			r := run(t, "flash", "--image", file(t, "disk."+string(f), enc), "--disk", d.Path, "--sha256", sum(enc), "--yes")
			if r.code != 0 {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			got := read(t, d.Path)
			if !bytes.Equal(got[:len(raw)], raw) {
				t.Errorf("device differs from the raw image")
			}
			if !bytes.Equal(got[len(raw):], bytes.Repeat([]byte{pattern}, len(got)-len(raw))) {
				t.Errorf("bytes past the image changed")
			}
			if !strings.Contains(r.stderr, "bty: write 100%") {
				t.Errorf("no write marker in:\n%s", r.stderr)
			}
		})
	}
}

func TestWrongDigest(t *testing.T) {
	zst := imagetest.Encode(t, catalog.Zstd, raw)
	d := disk(t, 16<<20, false)
	r := run(t, "flash", "--image", file(t, "a.img.zst", zst), "--disk", d.Path, "--sha256", strings.Repeat("e", 64), "--yes")
	if r.code != 4 || !strings.Contains(r.stderr, "UNVERIFIED") {
		t.Errorf("streamed, wrong digest: exit %d, want 4 and UNVERIFIED:\n%s", r.code, r.stderr)
	}

	q := qcow2(t, raw)
	d2 := disk(t, 16<<20, false)
	before := sum(read(t, d2.Path))
	r = run(t, "flash", "--image", file(t, "a.qcow2", q), "--disk", d2.Path, "--sha256", strings.Repeat("e", 64), "--yes")
	if r.code != 4 {
		t.Errorf("qcow2, wrong digest: exit %d, want 4:\n%s", r.code, r.stderr)
	}
	if sum(read(t, d2.Path)) != before {
		t.Errorf("qcow2 with a wrong digest changed the device")
	}
}

// A disk with a mounted filesystem is refused and left untouched. The disk
// gets a partition table and the filesystem goes on partition 1 where the
// kernel parses tables; this machine's kernel parses none
// (CONFIG_MSDOS_PARTITION unset), so there the whole disk is mounted and
// partition mounts are covered by package disk's sysfs tests.
func TestMountedRefused(t *testing.T) {
	mkfs := testenv.Tool(t, "mkfs.ext4", "e2fsprogs")
	d := disk(t, 16<<20, true)
	target, err := d.Partition(1)
	if err != nil {
		t.Logf("%v: the kernel parses no partition tables; mounting the whole disk", err)
		target = d.Path
	}
	if b, err := exec.Command(mkfs, "-q", "-F", target).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, b)
	}
	mnt := t.TempDir()
	// Read-only, so the kernel itself (ext4's lazy inode-table init, say)
	// never writes while we compare the device before and after.
	if err := unix.Mount(target, mnt, "ext4", unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mount %s: %v", target, err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	before := sum(read(t, d.Path))
	r := run(t, "flash", "--image", file(t, "a.img", raw), "--disk", d.Path, "--yes")
	if r.code != 3 || !strings.Contains(r.stderr, "mounted on "+mnt) {
		t.Errorf("exit %d, want 3 naming the mount:\n%s", r.code, r.stderr)
	}
	if sum(read(t, d.Path)) != before {
		t.Errorf("the mounted device was changed")
	}
	if target != d.Path {
		r = run(t, "flash", "--image", file(t, "a.img", raw), "--disk", target, "--yes")
		if r.code != 3 || !strings.Contains(r.stderr, "partition") {
			t.Errorf("a partition as target: exit %d, want 3:\n%s", r.code, r.stderr)
		}
	}
}

func TestTooSmallAndArchive(t *testing.T) {
	d := disk(t, 8<<20, false)
	before := sum(read(t, d.Path))
	r := run(t, "flash", "--image", file(t, "a.img", raw), "--disk", d.Path, "--yes")
	if r.code != 3 || !strings.Contains(r.stderr, "too small") {
		t.Errorf("too small: exit %d:\n%s", r.code, r.stderr)
	}
	r = run(t, "flash", "--image", file(t, "a.tar.gz", imagetest.Encode(t, catalog.Gzip, raw)), "--disk", d.Path, "--yes")
	if r.code != 3 || !strings.Contains(r.stderr, "extract the image first") {
		t.Errorf("tarball: exit %d:\n%s", r.code, r.stderr)
	}
	if sum(read(t, d.Path)) != before {
		t.Errorf("a refused flash changed the device")
	}
}

// cutServer serves data; the first response stops after cut bytes and drops
// the connection. With ranges it then honours Range requests.
func cutServer(t *testing.T, data []byte, cut int, ranges bool) string {
	t.Helper()
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ranges {
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("ETag", `"img-1"`)
		}
		if first {
			first = false
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:cut])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		if !ranges {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "", time.Unix(1e9, 0), bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/images/disk.img.zst"
}

func TestHTTPResume(t *testing.T) {
	zst := imagetest.Encode(t, catalog.Zstd, raw)
	d := disk(t, 16<<20, false)
	r := run(t, "flash", "--image", cutServer(t, zst, len(zst)/2, true), "--disk", d.Path, "--sha256", sum(zst), "--yes")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("connection lost at byte %d", len(zst)/2)) {
		t.Errorf("no resume reported:\n%s", r.stderr)
	}
	if got := read(t, d.Path); !bytes.Equal(got[:len(raw)], raw) {
		t.Errorf("device differs from the image after a resumed transfer")
	}

	// A server without byte ranges cannot resume: the image starts over
	// from byte 0, the disk too, and is written whole.
	d2 := disk(t, 16<<20, false)
	r = run(t, "flash", "--image", cutServer(t, zst, len(zst)/2, false), "--disk", d2.Path, "--sha256", sum(zst), "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, "does not support byte ranges") || !strings.Contains(r.stderr, "starting the image over from byte 0, the disk too (restart 1 of 3)") {
		t.Errorf("no Range support: exit %d, want 0 after a restart said with its reason:\n%s", r.code, r.stderr)
	}
	if got := read(t, d2.Path); !bytes.Equal(got[:len(raw)], raw) {
		t.Errorf("device differs from the image after a transfer started over")
	}
}
