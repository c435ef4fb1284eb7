package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

func sample(t *testing.T) []byte {
	a := New()
	for _, err := range []error{
		a.File("bin/bty", 0o755, []byte("#!binary")),
		a.File("init", 0o755, []byte("init")),
		a.Symlink("sbin/init", "/init"),
		a.CharDevice("dev/console", 0o600, 5, 1),
		a.Dir("run", 0o755),
		a.File("etc/bty/modules", 0o644, []byte("virtio_net\n")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := a.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReproducible(t *testing.T) {
	if !bytes.Equal(sample(t), sample(t)) {
		t.Error("two writes of the same archive differ")
	}
}

func TestRefusals(t *testing.T) {
	a := New()
	if err := a.File("../x", 0o644, nil); err == nil {
		t.Error("../x accepted")
	}
	a.File("x", 0o644, nil)
	if err := a.File("x", 0o644, nil); err == nil {
		t.Error("duplicate accepted")
	}
}

// GNU cpio, the reference reader, lists and extracts what we wrote.
func TestGNUcpioReadsIt(t *testing.T) {
	cpio := testenv.Tool(t, "cpio", "cpio")
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-idv", "--no-absolute-filenames", "--nonmatching", "dev/console")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(sample(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	for _, want := range []string{"bin/bty", "etc/bty/modules", "init", "sbin/init", "run"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio listing lacks %s:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "bin/bty"))
	if err != nil || string(b) != "#!binary" {
		t.Errorf("extracted bin/bty = %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "init")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("init mode: %v %v", st, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "sbin/init")); err != nil || l != "/init" {
		t.Errorf("symlink = %q, %v", l, err)
	}
}

func TestReadBack(t *testing.T) {
	entries, err := Read(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, e.Path)
		if e.Path == "bin/bty" && string(e.Data) != "#!binary" {
			t.Errorf("bin/bty = %q", e.Data)
		}
	}
	if want := "bin bin/bty dev dev/console etc etc/bty etc/bty/modules init run sbin sbin/init"; strings.Join(paths, " ") != want {
		t.Errorf("paths = %v, want %s", paths, want)
	}
	if _, err := Read(bytes.NewReader(sample(t)[:100])); err == nil {
		t.Error("a truncated archive read without error")
	}
}
