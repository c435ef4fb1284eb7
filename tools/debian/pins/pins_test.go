package pins

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

func TestCompareVersions(t *testing.T) {
	// Each is older than the next, as dpkg --compare-versions orders them.
	ordered := []string{"1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0a", "1.0.1", "1.2", "1.10", "2:0.1"}
	for i := range ordered {
		for j := range ordered {
			want := sign(i - j)
			if got := CompareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if CompareVersions("7.2.13-1", "7.10.1-1") >= 0 {
		t.Error("numeric parts compare as strings")
	}
}

const module = `module(name = "x")

debian = use_extension("//tools/debian:debian.bzl", "debian")
debian.deb(
    name = "debian_linux_image",
    build_file_content = "",
    filename = "pool/main/l/linux-signed-amd64/linux-binary-7.2.13+deb14-amd64_7.2.13-1_amd64.deb",
    sha256 = "fb8cd0ade4ef82d9dde1dcf183d4bf4033db1b549b0acc9973855ad9cc48c4f5",
    snapshot = "20261030T140801Z",
)

# A comment that stays.
debian.deb(
    name = "debian_ipxe",
    build_file_content = "",
    filename = "pool/main/i/ipxe/ipxe_2.0.0+dfsg-5_all.deb",
    sha256 = "f0f2b3df949f3207e2ca5c1324d23d0ad94a968c3d53e18ed8ea57b12f24a4bb",
)
`

func TestParseAndSet(t *testing.T) {
	f, err := Parse("MODULE.bazel", []byte(module))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Pins) != 2 || f.Pins[0].Package() != "linux-binary-7.2.13+deb14-amd64" || f.Pins[0].Arch() != "amd64" || f.Pins[1].Arch() != "all" {
		t.Fatalf("pins: %+v", f.Pins)
	}
	if err := f.Pins[0].Check(); err != nil {
		t.Error(err)
	}
	if err := f.Pins[1].Check(); err == nil || !strings.Contains(err.Error(), "//tools/debian:update") {
		t.Errorf("a pin without a snapshot: %v", err)
	}
	f.Set(1, "pool/main/i/ipxe/ipxe_2.0.1-1_all.deb", strings.Repeat("a", 64), "20261201T000000Z")
	out := string(f.Format())
	for _, want := range []string{`filename = "pool/main/i/ipxe/ipxe_2.0.1-1_all.deb"`, `snapshot = "20261201T000000Z"`, "# A comment that stays.", `snapshot = "20261030T140801Z"`} {
		if !strings.Contains(out, want) {
			t.Errorf("after Set, the file lacks %q:\n%s", want, out)
		}
	}
}

// TestEveryPinHasBothSources checks the repository's own MODULE.bazel:
// every pinned package can be fetched from the mirror and, by its
// snapshot timestamp, from the snapshot archive.
func TestEveryPinHasBothSources(t *testing.T) {
	path := testenv.Runfile(t, "BTY_MODULE_BAZEL", "//tools/debian/pins:pins_test")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Pins) < 5 {
		t.Fatalf("only %d debian.deb pins found", len(f.Pins))
	}
	for _, p := range f.Pins {
		if err := p.Check(); err != nil {
			t.Error(err)
		}
	}
}

// mirror serves a suite the way a Debian mirror lays it out.
func mirror(t *testing.T, packages map[string]string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/debian/dists/sid/Release", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("Origin: Debian\nSuite: unstable\nDate: Fri, 30 Oct 2026 08:08:01 UTC\nNo-Support-for-Architecture-all: Packages\n"))
	})
	for arch, body := range packages {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write([]byte(body))
		zw.Close()
		mux.HandleFunc("/debian/dists/sid/main/binary-"+arch+"/Packages.gz", func(w http.ResponseWriter, _ *http.Request) { w.Write(gz.Bytes()) })
	}
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func stanza(pkg, version, arch, file string) string {
	return stanzaSum(pkg, version, arch, file, strings.Repeat(version[:1], 64))
}

func stanzaSum(pkg, version, arch, file, sum string) string {
	return "Package: " + pkg + "\nSource: x\nVersion: " + version + "\nArchitecture: " + arch + "\nDescription: long\n text\nFilename: " + file +
		"\nSHA256: " + sum + "\n\n"
}

// TestCurrentFollowsTheKernelABI: a package whose name carries the kernel
// version moves to the newest package of the same shape; others keep
// their name.
func TestCurrentFollowsTheKernelABI(t *testing.T) {
	s := mirror(t, map[string]string{
		"amd64": stanza("linux-binary-7.2.13+deb14-amd64", "7.2.13-1", "amd64", "pool/main/l/linux-signed-amd64/linux-binary-7.2.13+deb14-amd64_7.2.13-1_amd64.deb") +
			stanza("linux-binary-7.3.2+deb14-amd64", "8.3.2-1", "amd64", "pool/main/l/linux-signed-amd64/linux-binary-7.3.2+deb14-amd64_8.3.2-1_amd64.deb") +
			stanza("linux-binary-7.3.2+deb14-cloud-amd64", "9.3.2-1", "amd64", "pool/main/l/x/cloud.deb"),
		"all": stanza("ipxe", "3.0.0-1", "all", "pool/main/i/ipxe/ipxe_3.0.0-1_all.deb"),
	})
	idx, err := Fetch(s.Client(), s.URL+"/debian", "sid", []string{"amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if got := idx.Snapshot(); got != "20261030T140801Z" {
		t.Errorf("snapshot %s", got)
	}
	f, _ := Parse("MODULE.bazel", []byte(module))
	kernel, err := idx.Current(f.Pins[0])
	if err != nil || kernel.Package != "linux-binary-7.3.2+deb14-amd64" {
		t.Errorf("kernel: %+v, %v", kernel, err)
	}
	ipxe, err := idx.Current(f.Pins[1])
	if err != nil || ipxe.Filename != "pool/main/i/ipxe/ipxe_3.0.0-1_all.deb" {
		t.Errorf("ipxe: %+v, %v", ipxe, err)
	}
	gone := Pin{Name: "debian_gone", Filename: "pool/main/g/gone/gone_1.0_amd64.deb"}
	if _, err := idx.Current(gone); err == nil || !strings.Contains(err.Error(), "pin its successor by hand") {
		t.Errorf("a package the mirror dropped: %v", err)
	}
	if _, err := Fetch(s.Client(), s.URL+"/nothing", "sid", nil); err == nil {
		t.Error("fetched a suite from a URL with no mirror")
	}
}

func TestUpdate(t *testing.T) {
	s := mirror(t, map[string]string{
		"amd64": stanza("linux-binary-7.3.2+deb14-amd64", "8.3.2-1", "amd64", "pool/main/l/linux-signed-amd64/linux-binary-7.3.2+deb14-amd64_8.3.2-1_amd64.deb"),
		"all":   stanzaSum("ipxe", "2.0.0+dfsg-5", "all", "pool/main/i/ipxe/ipxe_2.0.0+dfsg-5_all.deb", ipxeSum),
	})
	path := moduleFile(t)
	changes, err := Update(s.Client(), path, s.URL+"/debian", "sid", true)
	if err != nil || len(changes) != 2 {
		t.Fatalf("dry run: %v, %q", err, changes)
	}
	if b, _ := os.ReadFile(path); string(b) != module {
		t.Fatal("the dry run wrote the file")
	}
	if _, err := Update(s.Client(), path, s.URL+"/debian", "sid", false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f, err := Parse(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Pins[0]; !strings.Contains(p.Filename, "7.3.2") || p.SHA256 != strings.Repeat("8", 64) || p.Snapshot != "20261030T140801Z" {
		t.Errorf("kernel pin: %+v", p)
	}
	// The ipxe file was current: only its missing snapshot was added.
	if p := f.Pins[1]; p.Filename != "pool/main/i/ipxe/ipxe_2.0.0+dfsg-5_all.deb" || p.Snapshot != "20261030T140801Z" || p.SHA256 != ipxeSum {
		t.Errorf("ipxe pin: %+v", p)
	}
	if changes, err := Update(s.Client(), path, s.URL+"/debian", "sid", false); err != nil || len(changes) != 0 {
		t.Errorf("second run: %v, %q", err, changes)
	}
}

const ipxeSum = "f0f2b3df949f3207e2ca5c1324d23d0ad94a968c3d53e18ed8ea57b12f24a4bb"

// TestUpdateRefusesAChangedFile: the same file name with another digest is
// a broken mirror (or pin), never a new version.
func TestUpdateRefusesAChangedFile(t *testing.T) {
	s := mirror(t, map[string]string{
		"amd64": stanza("linux-binary-7.2.13+deb14-amd64", "7.2.13-1", "amd64", "pool/main/l/linux-signed-amd64/linux-binary-7.2.13+deb14-amd64_7.2.13-1_amd64.deb"),
		"all":   stanzaSum("ipxe", "2.0.0+dfsg-5", "all", "pool/main/i/ipxe/ipxe_2.0.0+dfsg-5_all.deb", ipxeSum),
	})
	path := moduleFile(t)
	_, err := Update(s.Client(), path, s.URL+"/debian", "sid", false)
	if err == nil || !strings.Contains(err.Error(), "never changes a published file") {
		t.Errorf("changed file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != module {
		t.Error("the refused update wrote the file")
	}
}

// moduleFile writes the sample MODULE.bazel to a new directory.
func moduleFile(t *testing.T) string {
	t.Helper()
	path := t.TempDir() + "/MODULE.bazel"
	if err := os.WriteFile(path, []byte(module), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMirrorScript: the overrides tools/debian/mirror.sh honours, for the
// mirror and for the snapshot archive.
func TestMirrorScript(t *testing.T) {
	script := testenv.Runfile(t, "BTY_MIRROR_SH", "//tools/debian/pins:pins_test")
	for _, c := range []struct{ arg, env, want string }{
		{"", "BTY_DEBIAN_MIRROR=http://m.example/debian/", "http://m.example/debian"},
		{"snapshot", "BTY_DEBIAN_SNAPSHOT=http://s.example/archive/debian/", "http://s.example/archive/debian"},
	} {
		cmd := exec.Command("/bin/sh", script, c.arg)
		cmd.Env = append(os.Environ(), c.env)
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != c.want {
			t.Errorf("mirror.sh %s with %s: %q, %v; want %q", c.arg, c.env, got, err, c.want)
		}
	}
}
