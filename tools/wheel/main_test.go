package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/wheelcheck"
)

const platform = "manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64"

func wheel(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tool")
	readme := filepath.Join(dir, "README.md")
	os.WriteFile(bin, []byte("\x7fELF pretend binary"), 0o755)
	os.WriteFile(readme, []byte("# tool\n\nDoes things.\n"), 0o644)
	out := filepath.Join(dir, "bty_lab-1.2.3-py3-none-"+platform+".whl")
	err := build(options{out: out, name: "bty-lab", version: "1.2.3", platform: platform, readme: readme, summary: "s", license: "Apache-2.0",
		requiresPython: ">=3.8", urls: []string{"Source=https://example.invalid/src"}, scripts: scripts{"tool": bin}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReproducibleAndValid(t *testing.T) {
	a, b := wheel(t, t.TempDir()), wheel(t, t.TempDir())
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("two builds of the same wheel differ")
	}
	w, err := wheelcheck.Check(a)
	if err != nil {
		t.Fatal(err)
	}
	if w.Version != "1.2.3" || len(w.Tags) != 3 || w.Scripts[0] != "tool" || w.Metadata["Project-URL"][0] != "Source, https://example.invalid/src" {
		t.Errorf("%+v", w)
	}
}

// The validator catches a wheel whose RECORD does not match its files.
func TestValidatorCatchesTampering(t *testing.T) {
	good := wheel(t, t.TempDir())
	zr, err := zip.OpenReader(good)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, _ := zw.CreateHeader(&f.FileHeader)
		r, _ := f.Open()
		var b bytes.Buffer
		b.ReadFrom(r)
		r.Close()
		data := b.Bytes()
		if strings.HasSuffix(f.Name, "/tool") {
			data = append(data, '!')
		}
		w.Write(data)
	}
	zw.Close()
	zr.Close()
	bad := filepath.Join(t.TempDir(), filepath.Base(good))
	os.WriteFile(bad, buf.Bytes(), 0o644)
	if _, err := wheelcheck.Check(bad); err == nil || !strings.Contains(err.Error(), "RECORD entry") {
		t.Errorf("tampered wheel: %v", err)
	}
	if _, err := wheelcheck.Check(filepath.Join(t.TempDir(), "not-a-wheel.zip")); err == nil {
		t.Error("a bad file name passed")
	}
}
