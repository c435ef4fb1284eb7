package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/bty-lab/bty/internal/flags"
)

func buildOnce(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	crt := filepath.Join(dir, "certs", "a.crt")
	os.MkdirAll(filepath.Dir(crt), 0o755)
	os.WriteFile(bin, []byte("\x7fELF static"), 0o755)
	os.WriteFile(crt, []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"), 0o644)
	o := options{layoutDir: filepath.Join(dir, "layout"), tarFile: filepath.Join(dir, "out.tar"), binPath: "/usr/local/bin/x",
		certs: filepath.Join(dir, "certs"), volume: "/var/lib/bty", binaries: flags.Strings{"linux/amd64=" + bin, "linux/arm64=" + bin},
		ports: flags.Strings{"8080/tcp"}, labels: flags.Strings{"org.opencontainers.image.version=1.2.3"}}
	if err := build(o); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(o.layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	tarData, _ := os.ReadFile(o.tarFile)
	return d.String(), tarData
}

// Two builds from the same inputs, at different times and places, give the
// same index digest and the same tarball.
func TestReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "315532800")
	d1, t1 := buildOnce(t)
	time.Sleep(1100 * time.Millisecond)
	d2, t2 := buildOnce(t)
	if d1 != d2 {
		t.Errorf("index digests differ: %s, %s", d1, d2)
	}
	if string(t1) != string(t2) {
		t.Error("layout tarballs differ")
	}
}
