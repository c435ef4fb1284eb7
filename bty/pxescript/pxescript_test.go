package pxescript

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it (run
// under `go test` in this directory).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with UPDATE_GOLDEN=1 go test ./bty/pxescript)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if intended, run UPDATE_GOLDEN=1 go test ./bty/pxescript:\n%s", name, diff)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestScripts(t *testing.T) {
	const base, mac = "http://10.0.0.1:8080", "52:54:00:11:22:33"
	nb, err := NetbootFor("1.4.0", "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := NetbootFor("1.4.0", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bootstrap.ipxe", must(Bootstrap(base)))
	golden(t, "flash-arm64.ipxe", must(Live(base, mac, "flash", arm)))
	golden(t, "local.ipxe", must(Local(mac, "booting the local disk")))
	golden(t, "refused.ipxe", must(Local(mac, "no target_disk_serial is set for "+mac+", booting the local disk")))
	golden(t, "flash.ipxe", must(Live(base, mac, "flash", nb)))
	golden(t, "inventory.ipxe", must(Live(base, mac, "inventory", nb)))
	golden(t, "interactive.ipxe", must(Live(base, mac, "interactive", nb)))
}

func TestSanitize(t *testing.T) {
	if got := Sanitize("ref ${evil} x;y\nz"); got != "ref ??evil? x?y?z" {
		t.Errorf("Sanitize = %q", got)
	}
}

func TestMissingKeyFails(t *testing.T) {
	if _, err := render("live", map[string]string{"base": "x"}); err == nil {
		t.Error("rendering with missing values succeeded")
	}
}

func TestNetbootFor(t *testing.T) {
	nb, err := NetbootFor("1.4.0", "arm64")
	if err != nil || nb.Kernel != "bty-netboot-arm64-v1.4.0.vmlinuz" || nb.Manifest != "bty-netboot-arm64-v1.4.0.sha256" || len(nb.Files()) != 3 {
		t.Errorf("arm64: %+v, %v", nb, err)
	}
	for _, arch := range []string{"i386", "riscv64", ""} {
		if _, err := NetbootFor("1.4.0", arch); err == nil {
			t.Errorf("%q: a trio for an architecture bty does not build", arch)
		}
	}
}
