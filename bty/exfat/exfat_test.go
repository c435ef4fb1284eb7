package exfat

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

func format(t *testing.T, size int64, o Options) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vol.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := Format(f, size, o); err != nil {
		t.Fatal(err)
	}
	return p
}

// fsck runs exfatprogs' checker, the reference for what a valid exFAT is.
func fsck(t *testing.T, img string) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "fsck.exfat", "exfatprogs"), "-n", "-v", img).CombinedOutput()
	if err != nil {
		t.Fatalf("fsck.exfat -n %s: %v\n%s", img, err, out)
	}
}

func TestFsckAcceptsEverySize(t *testing.T) {
	for _, size := range []int64{MinSize, 32 << 20, 300 << 20, 4 << 30, 40 << 30} {
		img := format(t, size, Options{Label: "BTY_IMAGES", Serial: 0x1234ABCD})
		fsck(t, img)
		out, err := exec.Command(testenv.Tool(t, "exfatlabel", "exfatprogs"), img).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "BTY_IMAGES") {
			t.Errorf("%d bytes: exfatlabel: %v\n%s", size, err, out)
		}
		out, _ = exec.Command(testenv.Tool(t, "exfatlabel", "exfatprogs"), "-i", img).CombinedOutput()
		if !strings.Contains(string(out), "0x1234abcd") {
			t.Errorf("%d bytes: serial: %s", size, out)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, _ := os.ReadFile(format(t, 32<<20, Options{Label: "A", Serial: 7}))
	b, _ := os.ReadFile(format(t, 32<<20, Options{Label: "A", Serial: 7}))
	if !bytes.Equal(a, b) {
		t.Errorf("two formats differ at byte %d", testenv.FirstDiff(a, b))
	}
}

func TestRefusals(t *testing.T) {
	var sink discard
	if err := Format(sink, MinSize-1, Options{}); err == nil {
		t.Error("formatted a volume below MinSize")
	}
	if err := Format(sink, 32<<20, Options{Label: "TWELVE CHARS"}); err == nil {
		t.Error("accepted a 12-character label")
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// TestFilesSurviveRemount writes, through an independent exFAT
// implementation (exfat-fuse), a file bigger than FAT32 could hold in this
// space and files with non-ASCII names, then reads them back after a
// remount and checks the volume with fsck.
func TestFilesSurviveRemount(t *testing.T) {
	img := format(t, 64<<20, Options{Label: "BTY_IMAGES", Serial: 1})
	want := make([]byte, 40<<20)
	rand.Read(want)
	dir := testenv.MountExFAT(t, img, false)
	name := filepath.Join("images", "Débian 13.img")
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), want, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Unmount(t, dir)
	dir = testenv.MountExFAT(t, img, true)
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file after remount: %v (%d bytes)", err, len(got))
	}
	testenv.Unmount(t, dir)
	fsck(t, img)
}
