package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseValid(t *testing.T) {
	doc := `
version = 1

[[images]]
name = "debian-13-amd64"
src = "HTTPS://Images.Example:443/path/debian.img.zst"
sha256 = "` + digest + `"
size_bytes = 123
arch = "x86_64"

[[images]]
name = "fedora.qcow2"
src = "oras://registry.example/os/fedora:41"

[[images]]
name = "raw"
src = "http://10.0.0.1:8080/raw.IMG?token=abc"
format = "img"
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Catalog{Version: 1, Images: []Image{
		{Name: "debian-13-amd64", Src: "https://images.example/path/debian.img.zst", SHA256: digest, Format: Zstd, SizeBytes: 123, Arch: "x86_64"},
		{Name: "fedora.qcow2", Src: "oras://registry.example/os/fedora:41", Format: QCOW2},
		{Name: "raw", Src: "http://10.0.0.1:8080/raw.IMG?token=abc", Format: Raw},
	}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	ref := Ref("https://images.example/path/debian.img.zst")
	if got, ok := c.Lookup(ref); !ok || got.Name != "debian-13-amd64" {
		t.Errorf("Lookup(%s) = %v, %v", ref, got, ok)
	}
	if _, ok := c.Lookup(digest); ok {
		t.Errorf("Lookup of an unknown ref succeeded")
	}
}

func TestEmptyCatalog(t *testing.T) {
	c, err := Parse([]byte("version = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Images) != 0 {
		t.Errorf("images = %v, want none", c.Images)
	}
}

// Every bad input is refused with a message that names the entry and the
// problem; nothing is returned alongside the error.
func TestParseInvalid(t *testing.T) {
	entry := func(fields string) string {
		return "version = 1\n[[images]]\n" + fields + "\n"
	}
	for _, tc := range []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"syntax", "version = 1\n[[images]\nname = 'x'\n", []string{"malformed TOML at line ", "delimiter"}},
		{"missing version", "[[images]]\nname='a'\nsrc='https://h/a.img'\n", []string{`missing "version = 1"`}},
		{"version 2", "version = 2\n", []string{"version 2 is not supported"}},
		{"unknown key", entry(`name = "a"` + "\n" + `src = "https://h/a.img"` + "\n" + `sha265 = "x"`), []string{`unknown key "images.sha265"`}},
		{"unknown top key", "version = 1\nimagez = []\n", []string{`unknown key "imagez"`}},
		{"duplicate name", entry(`name = "a"`+"\n"+`src = "https://h/a.img"`) + "[[images]]\nname = \"a\"\nsrc = \"https://h/b.img\"\n", []string{`image 2 (name "a"): duplicate name, already used by image 1`}},
		{"duplicate src", entry(`name = "a"`+"\n"+`src = "https://h/a.img"`) + "[[images]]\nname = \"b\"\nsrc = \"https://H:443/a.img\"\n", []string{`image 2 (name "b"): same src as image 1`}},
		{"bad name", entry(`name = "../etc"` + "\n" + `src = "https://h/a.img"`), []string{`image 1 (name "../etc"): name must be`}},
		{"empty name", entry(`src = "https://h/a.img"`), []string{`image 1 (name ""): name must be`}},
		{"no src", entry(`name = "a"`), []string{`image 1 (name "a"): src is missing`}},
		{"file src", entry(`name = "a"` + "\n" + `src = "file:///srv/a.img"`), []string{"file:// sources are not allowed"}},
		{"ftp src", entry(`name = "a"` + "\n" + `src = "ftp://h/a.img"`), []string{`unsupported scheme "ftp"`}},
		{"credentials", entry(`name = "a"` + "\n" + `src = "https://u:hunter2@h/a.img"`), []string{"must not contain credentials"}},
		{"short sha", entry(`name = "a"` + "\n" + `src = "https://h/a.img"` + "\n" + `sha256 = "abc"`), []string{`sha256 "abc" must be 64 lower-case hex digits`}},
		{"upper sha", entry(`name = "a"` + "\n" + `src = "https://h/a.img"` + "\n" + `sha256 = "` + strings.ToUpper(digest) + `"`), []string{"must be 64 lower-case hex digits"}},
		{"unknown format", entry(`name = "a"` + "\n" + `src = "https://h/a"` + "\n" + `format = "vmdk"`), []string{`unknown format "vmdk"`}},
		{"underivable format", entry(`name = "a"` + "\n" + `src = "https://h/download"`), []string{`cannot tell the format of "download"`}},
		{"contradicting format", entry(`name = "a"` + "\n" + `src = "https://h/a.img.xz"` + "\n" + `format = "img.gz"`), []string{`format "img.gz" contradicts the file name, which says "img.xz"`}},
		{"tarball", entry(`name = "a"` + "\n" + `src = "https://h/a.tar.gz"`), []string{"is an archive", "extract the image first"}},
		{"tarball with format", entry(`name = "a"` + "\n" + `src = "https://h/a.tar.zst"` + "\n" + `format = "img.zst"`), []string{"is an archive"}},
		{"oras without tag", entry(`name = "a.img"` + "\n" + `src = "oras://r.example/os/a"`), []string{"want oras://REGISTRY/REPOSITORY:TAG"}},
		{"negative size", entry(`name = "a"` + "\n" + `src = "https://h/a.img"` + "\n" + `size_bytes = -1`), []string{"size_bytes -1 must be positive"}},
		{"bad arch", entry(`name = "a"` + "\n" + `src = "https://h/a.img"` + "\n" + `arch = "X86 64"`), []string{`arch "X86 64"`}},
		{"wrong type", entry(`name = 3` + "\n" + `src = "https://h/a.img"`), []string{"malformed"}},
		{"dot segments", entry(`name = "a"` + "\n" + `src = "https://h/x/../a.img"`), []string{"must not contain . or .. segments"}},
		{"directory", entry(`name = "a.img"` + "\n" + `src = "https://h/dir/"`), []string{"must name a file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a catalog alongside the error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Credentials never reach an error message, where they would be logged.
func TestCredentialsNotEchoed(t *testing.T) {
	_, err := Parse([]byte("version = 1\n[[images]]\nname = \"a\"\nsrc = \"https://admin:hunter2@h/a.img\"\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v: want a refusal that does not echo the password", err)
	}
}

// All problems are reported at once, so an operator fixes a catalog in one go.
func TestAllProblemsReported(t *testing.T) {
	doc := "version = 1\n" +
		"[[images]]\nname = \"ok\"\nsrc = \"https://h/ok.img\"\n" +
		"[[images]]\nname = \"bad-sha\"\nsrc = \"https://h/b.img\"\nsha256 = \"zz\"\n" +
		"[[images]]\nname = \"bad-src\"\nsrc = \"file:///b.img\"\n"
	_, err := Parse([]byte(doc))
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %v is not an *InvalidError", err)
	}
	if len(inv.Problems) != 2 {
		t.Errorf("problems = %q, want 2", inv.Problems)
	}
}

func TestCanonicalSrc(t *testing.T) {
	for in, want := range map[string]string{
		"https://H.Example/a.img":                      "https://h.example/a.img",
		"http://h:80/a.img":                            "http://h/a.img",
		"http://h:8080/a.img":                          "http://h:8080/a.img",
		"https://h/a%20b.img":                          "https://h/a%20b.img",
		"http://[::1]:8080/a.img":                      "http://[::1]:8080/a.img",
		"oras://R.example:443/os/img@sha256:" + digest: "oras://r.example/os/img@sha256:" + digest,
	} {
		got, err := CanonicalSrc(in)
		if err != nil || got != want {
			t.Errorf("CanonicalSrc(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "h/a.img", "https:///a.img", "https://h:0/a.img", "https://h:99999/a.img", "https://h/a.img#x", "https://h/a b.img", "mailto:x@y", "oras://r/os/img:tag?x=1"} {
		if got, err := CanonicalSrc(bad); err == nil {
			t.Errorf("CanonicalSrc(%q) = %q, want an error", bad, got)
		}
	}
}

// Ref is the sha256 of the canonical source, so two spellings of one source
// share a reference.
func TestRef(t *testing.T) {
	// sha256("https://h/a.img"), computed independently with sha256sum.
	const wantRef = "04eda8b868a5e6d5e64a3d0de5a46a133d0b5cbcc83f54d324a1a03ceb4e3ee8"
	a, _ := CanonicalSrc("HTTPS://h:443/a.img")
	b, _ := CanonicalSrc("https://h/a.img")
	if Ref(a) != Ref(b) {
		t.Errorf("refs differ for two spellings of one source: %s, %s", Ref(a), Ref(b))
	}
	if got := Ref("https://h/a.img"); got != wantRef {
		t.Errorf("Ref = %s, want %s", got, wantRef)
	}
}

func TestFormatFromName(t *testing.T) {
	for name, want := range map[string]Format{
		"a.img": Raw, "A.IMG.GZ": Gzip, "a.img.zst": Zstd, "a.img.xz": XZ, "a.img.bz2": Bzip2, "a.qcow2": QCOW2,
	} {
		if got, err := FormatFromName(name); err != nil || got != want {
			t.Errorf("FormatFromName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"a.tar", "a.tgz", "a.tar.xz", "a.zip"} {
		if _, err := FormatFromName(name); !errors.Is(err, ErrArchive) {
			t.Errorf("FormatFromName(%q) = %v, want ErrArchive", name, err)
		}
	}
	if _, err := FormatFromName("a.iso"); err == nil || errors.Is(err, ErrArchive) {
		t.Errorf("FormatFromName(a.iso) = %v, want an unknown-format error", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c, err := Parse([]byte("version = 1\n[[images]]\nname = \"a\"\nsrc = \"HTTPS://H/a.img.gz\"\nsha256 = \"" + digest + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parsing encoded catalog: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c, again); diff != "" {
		t.Errorf("round trip changed the catalog (-first +second):\n%s", diff)
	}
	if !strings.Contains(string(out), `format = "img.gz"`) {
		t.Errorf("encoded catalog lacks the derived format:\n%s", out)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "catalog.toml")
	if err := os.WriteFile(good, []byte("version = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(good); err != nil {
		t.Errorf("Load(%s): %v", good, err)
	}
	missing := filepath.Join(dir, "nope.toml")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load of a missing file: %v, want an error naming it", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of an oversized file: %v, want a size refusal", err)
	}
}
