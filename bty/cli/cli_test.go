package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/disk/disktest"
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

func TestImages(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "debian.img.zst"), "12345")
	write(t, filepath.Join(dir, "debian.img.zst.sha256"), strings.Repeat("AB", 32)+"  debian.img.zst\n")
	write(t, filepath.Join(dir, "notes.txt"), "x")
	write(t, filepath.Join(dir, "fedora.qcow2"), "")
	out, _, code := run(t, "images", dir)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"debian.img.zst  img.zst  5 B", strings.Repeat("ab", 32), "fedora.qcow2    qcow2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "notes.txt") {
		t.Errorf("non-image listed:\n%s", out)
	}
	write(t, filepath.Join(dir, "catalog.toml"), "version = 1\n[[images]]\nname = \"remote\"\nsrc = \"https://example.invalid/r.img.xz\"\nsize_bytes = 2048\n")
	out, _, code = run(t, "images", dir)
	if code != 0 || !regexp.MustCompile(`(?m)^CATALOG ENTRY \(catalog.toml, needs the network\).*\n^remote\s+img.xz\s+2.0 KiB\s+https://example.invalid/r.img.xz$`).MatchString(out) {
		t.Errorf("catalog entry not listed apart (exit %d):\n%s", code, out)
	}
	write(t, filepath.Join(dir, "catalog.toml"), "version = 2\n")
	if _, errOut, code := run(t, "images", dir); code != ExitRefused || !strings.Contains(errOut, "catalog.toml") {
		t.Errorf("bad catalog: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "images", filepath.Join(dir, "missing")); code != ExitRefused {
		t.Errorf("missing dir: exit %d", code)
	}
}

// fakeMachine points System at a sysfs tree with one 4 MiB disk, serial
// BTYTEST, whose device node is a regular file.
func fakeMachine(t *testing.T) string {
	t.Helper()
	sys, dev := disktest.OneDisk(t, "BTYTEST", 4<<20, 0xaa)
	old := System
	t.Cleanup(func() { System = old })
	System = sys
	return dev
}

func TestFlashExitCodes(t *testing.T) {
	dev := fakeMachine(t)
	img := filepath.Join(t.TempDir(), "a.img")
	write(t, img, strings.Repeat("bty!", 1024))

	if _, errOut, code := run(t, "flash", "--image", img, "--serial", "NOPE", "--yes"); code != ExitNoTarget {
		t.Errorf("unknown serial: exit %d (%s), want 2", code, errOut)
	}
	if _, errOut, code := run(t, "flash", "--image", img, "--serial", "BTYTEST"); code != ExitRefused || !strings.Contains(errOut, "--yes") {
		t.Errorf("no --yes off a terminal: exit %d (%s), want 3", code, errOut)
	}
	if _, errOut, code := run(t, "flash", "--image", img, "--serial", "BTYTEST", "--sha256", strings.Repeat("0", 64), "--yes"); code != ExitWriteError || !strings.Contains(errOut, "UNVERIFIED") {
		t.Errorf("wrong digest: exit %d (%s), want 4", code, errOut)
	}
	out, errOut, code := run(t, "flash", "--image", img, "--serial", "BTYTEST", "--yes")
	if code != 0 || !strings.Contains(out, "wrote 4.0 KiB (img") || !strings.Contains(errOut, "bty: write 100%") {
		t.Fatalf("flash: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	got, _ := os.ReadFile(dev)
	if !strings.HasPrefix(string(got), strings.Repeat("bty!", 1024)+"\xaa") {
		t.Errorf("device does not start with the image")
	}
	if _, _, code := run(t, "flash", "--image", img, "--disk", dev, "--serial", "BTYTEST", "--yes"); code != ExitUsage {
		t.Errorf("--disk with --serial: exit %d, want usage error", code)
	}
}

// Off a terminal, bty alone prints its usage and the wizard refuses.
func TestWizardNeedsATerminal(t *testing.T) {
	out, _, code := run(t)
	if code != 0 || !strings.Contains(out, "wizard") || !strings.Contains(out, "Usage:") {
		t.Errorf("bty alone: exit %d\n%s", code, out)
	}
	if _, errOut, code := run(t, "wizard"); code != ExitRefused || !strings.Contains(errOut, "needs a terminal") {
		t.Errorf("bty wizard: exit %d, %q", code, errOut)
	}
}
