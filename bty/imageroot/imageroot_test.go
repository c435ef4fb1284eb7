package imageroot

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/internal/testenv"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	raw := imagetest.Disk(3<<20, 1)
	files := map[string][]byte{
		"a.img":           raw,
		"a.img.sha256":    []byte(strings.Repeat("AB", 32) + "  a.img\n"),
		"b.img.gz":        imagetest.Encode(t, catalog.Gzip, raw),
		"b.img.gz.sha256": []byte("garbage\n"),
		"c.img.xz":        imagetest.Encode(t, catalog.XZ, raw),
		"d.img.zst":       imagetest.Encode(t, catalog.Zstd, raw),
		"f.img.bz2":       imagetest.Encode(t, catalog.Bzip2, raw),
		"notes.txt":       []byte("not an image"),
		CatalogFile:       []byte("version = 1\n[[images]]\nname = \"r\"\nsrc = \"https://example.invalid/r.img\"\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// qcow2 from the reference implementation.
	if out, err := exec.Command(testenv.Tool(t, "qemu-img", "qemu-utils"), "convert", "-f", "raw", "-O", "qcow2",
		filepath.Join(dir, "a.img"), filepath.Join(dir, "e.qcow2")).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	root, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range root.Files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "a.img b.img.gz c.img.xz d.img.zst e.qcow2 f.img.bz2" {
		t.Errorf("files: %s", got)
	}
	a, b := root.Files[0], root.Files[1]
	if a.SHA256 != strings.Repeat("ab", 32) || a.SidecarErr != nil || b.SHA256 != "" || b.SidecarErr == nil {
		t.Errorf("sidecars: %+v %+v", a, b)
	}
	for _, f := range root.Files {
		want := int64(len(raw))
		if f.Format == catalog.Bzip2 {
			want = -1 // bzip2 keeps no size
		}
		if got := f.DecodedSize(); got != want {
			t.Errorf("%s: decoded size %d, want %d", f.Name, got, want)
		}
	}
	if root.Catalog == nil || len(root.Catalog.Images) != 1 {
		t.Errorf("catalog: %+v", root.Catalog)
	}

	os.WriteFile(filepath.Join(dir, CatalogFile), []byte("version = 9\n"), 0o644)
	root, err = Read(dir)
	if err == nil || !strings.Contains(err.Error(), CatalogFile) || root == nil || len(root.Files) != 6 {
		t.Errorf("bad catalog: %v (files still listed: %v)", err, root != nil)
	}
	if _, err := Read(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing root read")
	}
}
