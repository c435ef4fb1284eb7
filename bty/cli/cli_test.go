package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/version"
)

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := New(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, "--version")
	if want := "bty " + version.String() + "\n"; out != want || code != 0 {
		t.Errorf("bty --version = %q, exit %d; want %q, exit 0", out, code, want)
	}
}

func TestCatalogCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	write(t, good, "version = 1\n[[images]]\nname = \"a\"\nsrc = \"https://h/a.img.zst\"\n")
	write(t, bad, "version = 1\n[[images]]\nname = \"a\"\nsrc = \"file:///a.img\"\n")

	out, _, code := run(t, "catalog", "check", good)
	if code != ExitOK || !strings.Contains(out, "1 image(s), valid") || !strings.Contains(out, "img.zst") {
		t.Errorf("check of a good catalog: exit %d, output %q", code, out)
	}
	_, errOut, code := run(t, "catalog", "check", bad)
	if code != ExitRefused || !strings.Contains(errOut, `image 1 (name "a")`) {
		t.Errorf("check of a bad catalog: exit %d, stderr %q; want exit 3 naming the entry", code, errOut)
	}
	_, _, code = run(t, "catalog", "check")
	if code != ExitUsage {
		t.Errorf("check without a file: exit %d, want %d", code, ExitUsage)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
