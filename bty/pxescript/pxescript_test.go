package pxescript

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it (run
// under `go test` in this directory).
// token is a live boot's token as bty-web makes them (provision.NewToken).
const token = "5f0c1f7b2d3e4a59687766554433221100ffeeddccbbaa998877665544332211"

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
	golden(t, "flash-arm64.ipxe", must(Live(base, mac, "flash", token, arm)))
	golden(t, "local.ipxe", must(Local(mac, "booting the local disk")))
	golden(t, "refused.ipxe", must(Local(mac, "no target_disk_serial is set for "+mac+", booting the local disk")))
	golden(t, "flash.ipxe", must(Live(base, mac, "flash", token, nb)))
	golden(t, "inventory.ipxe", must(Live(base, mac, "inventory", token, nb)))
	golden(t, "interactive.ipxe", must(Live(base, mac, "interactive", token, nb)))
	golden(t, "flash.grub", must(GRUBLive(base, mac, "flash", token, nb)))
	golden(t, "refused.grub", must(GRUBLocal(mac, "no target_disk_serial is set for "+mac+", booting the local disk")))
}

func TestGRUBRefusesWhatItCannotFetch(t *testing.T) {
	nb, _ := NetbootFor("1.4.0", "x86_64")
	for _, base := range []string{"https://bty.example:8443", "http://10.0.0.1:8080/sub", "10.0.0.1:8080"} {
		if _, err := GRUBLive(base, "52:54:00:11:22:33", "flash", token, nb); err == nil {
			t.Errorf("%s: rendered", base)
		}
	}
	// The token is pasted into both scripts: only hex passes.
	for _, f := range []Format{IPXE, GRUB} {
		if _, err := f.Live("http://10.0.0.1:8080", "52:54:00:11:22:33", "flash", "ab\nshell", nb); err == nil {
			t.Errorf("%s: a token with a newline rendered", f.Name)
		}
	}
	b, _ := GRUBLocal("52:54:00:11:22:33", "it's ${evil}")
	if strings.Count(string(b), "'") != 2 || strings.Contains(string(b), "$") {
		t.Errorf("operator text escaped GRUB's quotes:\n%s", b)
	}
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

// boot is what a per-MAC script makes a machine do, whatever its
// language: the message, and the kernel, its arguments and the initrd as
// URLs (empty for the local disk).
type boot struct{ echo, kernel, args, initrd string }

// parse reads a script of either format into a boot.
func parse(t *testing.T, script []byte) boot {
	t.Helper()
	var b boot
	unquote := func(s string) string {
		s = strings.Trim(s, "'")
		// GRUB's device (http,host:port) is iPXE's http://host:port.
		if rest, ok := strings.CutPrefix(s, "(http,"); ok {
			host, path, _ := strings.Cut(rest, ")")
			s = "http://" + host + path
		}
		return s
	}
	for _, l := range strings.Split(string(script), "\n") {
		cmd, rest, _ := strings.Cut(l, " ")
		switch cmd {
		case "echo":
			b.echo = strings.Trim(rest, "'")
		case "kernel", "linux":
			url, args, _ := strings.Cut(rest, " ")
			b.kernel, b.args = unquote(url), args
		case "initrd":
			b.initrd = unquote(rest)
		}
	}
	return b
}

// TestFormatsAgree: for every purpose and for the local disk, GRUB's
// script makes the machine do what iPXE's does.
func TestFormatsAgree(t *testing.T) {
	const base, mac = "http://10.0.0.1:8080", "52:54:00:11:22:33"
	nb, _ := NetbootFor("1.4.0", "x86_64")
	for _, purpose := range []string{"flash", "inventory", "interactive"} {
		ipxe, grub := parse(t, must(IPXE.Live(base, mac, purpose, token, nb))), parse(t, must(GRUB.Live(base, mac, purpose, token, nb)))
		if ipxe != grub || ipxe.kernel == "" || ipxe.initrd == "" {
			t.Errorf("%s: iPXE does %+v, GRUB %+v", purpose, ipxe, grub)
		}
	}
	for _, why := range []string{"booting the local disk", "image abc is not in the catalog, booting the local disk"} {
		ipxe, grub := parse(t, must(IPXE.Local(mac, why))), parse(t, must(GRUB.Local(mac, why)))
		if ipxe != grub || ipxe.kernel != "" {
			t.Errorf("local (%s): iPXE does %+v, GRUB %+v", why, ipxe, grub)
		}
	}
}
