package tftp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/dhcpconf"
	"github.com/bty-lab/bty/internal/testenv"
)

// shipped reads a chain script as the release ships it: from the runfiles
// under Bazel (env), else from the source tree under plain go test.
func shipped(t *testing.T, env, path string) []byte {
	t.Helper()
	if os.Getenv(env) != "" {
		path = testenv.Runfile(t, env, "//bty/tftp:tftp_test")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A bty-tftp told bty-web's URL sends both shipped chain scripts naming
// it, over TFTP, with the size it announces; the rest of each script is
// byte for byte the shipped one, and other files are untouched.
func TestChainScriptsFollowBtyWeb(t *testing.T) {
	scripts := map[string][]byte{
		dhcpconf.FileAutoexec:   shipped(t, "BTY_CHAIN_IPXE", filepath.Join("..", "..", "ipxe", "chain.ipxe")),
		dhcpconf.FileGRUBConfig: shipped(t, "BTY_GRUB_CFG", filepath.Join("..", "..", "grub", "grub.cfg")),
	}
	want := map[string]string{
		dhcpconf.FileAutoexec:   "\nset bty-web 10.99.0.1:8081\n",
		dhcpconf.FileGRUBConfig: "\nset bty_web=\"10.99.0.1:8081\"\n",
	}
	for _, web := range []string{"", "http://10.99.0.1:8081"} {
		addr, content, dir := serveWith(t, Options{Web: web})
		for name, b := range scripts {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range scripts {
			got, size, err := fetch(addr, name, 0)
			if err != nil {
				t.Fatalf("web %q: fetching %s: %v", web, name, err)
			}
			if size != int64(len(got)) {
				t.Errorf("web %q: %s announced %d bytes, sent %d", web, name, size, len(got))
			}
			if web == "" {
				if !bytes.Equal(got, b) {
					t.Errorf("without -web-url %s is not the shipped script:\n%s", name, got)
				}
				continue
			}
			if !strings.Contains(string(got), want[name]) || strings.Contains(string(got), ":8080") {
				t.Errorf("%s does not name bty-web at 10.99.0.1:8081:\n%s", name, got)
			}
			gl, bl := strings.Split(string(got), "\n"), strings.Split(string(b), "\n")
			changed := 0
			for i := range min(len(gl), len(bl)) {
				if gl[i] != bl[i] {
					changed++
				}
			}
			if len(gl) != len(bl) || changed != 1 {
				t.Errorf("%s: %d of its lines changed (and %d lines against %d); want exactly the one naming bty-web", name, changed, len(gl), len(bl))
			}
		}
		if got, _, err := fetch(addr, "ipxe.efi", 0); err != nil || !bytes.Equal(got, content) {
			t.Errorf("web %q: ipxe.efi changed (%v)", web, err)
		}
	}
}

// Only a DNS name or an IP address and a port reach the scripts.
func TestParseWeb(t *testing.T) {
	for in, want := range map[string]string{
		"http://10.99.0.1:8081":     "10.99.0.1:8081",
		"http://bty.example.org":    "bty.example.org:80",
		"http://[2001:db8::1]:8080": "[2001:db8::1]:8080",
	} {
		if got, err := ParseWeb(in); err != nil || got != want {
			t.Errorf("ParseWeb(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "10.99.0.1:8081", `http://a"b:80`, "http://a${x}:80", "http://a%0aexit:80", "http://-a:80"} {
		if got, err := ParseWeb(bad); err == nil {
			t.Errorf("ParseWeb(%q) = %q; want an error", bad, got)
		}
	}
}

// A file served under a chain script's name that is not one (no line, or
// two, naming bty-web) is refused rather than sent half-retargeted.
func TestRetargetRefusesForeignScripts(t *testing.T) {
	for _, script := range []string{"#!ipxe\nchain http://x/\n", "#!ipxe\nset bty-web a:1\nset bty-web b:2\n"} {
		if _, err := Retarget(dhcpconf.FileAutoexec, []byte(script), "h:1"); err == nil {
			t.Errorf("Retarget accepted %q", script)
		}
	}
}
