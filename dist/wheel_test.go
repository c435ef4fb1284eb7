// Package dist_test checks the bty-lab wheels as built: the validator,
// Debian's twine, and pip installing the amd64 wheel into a fresh venv.
package dist_test

import (
	"archive/zip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/internal/wheelcheck"
)

func wheels(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for arch, env := range map[string]string{"amd64": "BTY_WHEEL_AMD64", "arm64": "BTY_WHEEL_ARM64"} {
		out[arch] = testenv.Runfile(t, env, "//dist:dist_test")
	}
	return out
}

func TestValidator(t *testing.T) {
	version, err := os.ReadFile(testenv.Runfile(t, "BTY_VERSION_FILE", "//dist:dist_test"))
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for arch, path := range wheels(t) {
		w, err := wheelcheck.Check(path)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(path), err)
			continue
		}
		if w.Name != "bty_lab" || w.Version != strings.TrimSpace(string(version)) || strings.Join(w.Scripts, " ") != "bty bty-tftp bty-web" {
			t.Errorf("%s: %+v", filepath.Base(path), w)
		}
		// Each script is a static ELF binary for the wheel's platform.
		for name, b := range members(t, path, func(n string) bool { return strings.Contains(n, ".data/scripts/") }) {
			tmp := filepath.Join(t.TempDir(), "bin")
			os.WriteFile(tmp, b, 0o755)
			e, err := elf.Open(tmp)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if e.Machine != machines[arch] {
				t.Errorf("%s in the %s wheel is for %v", name, arch, e.Machine)
			}
			for _, p := range e.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked", name)
				}
			}
			e.Close()
		}
	}
}

// The PyPI page (the wheel's long description) is the users' text,
// dist/PYPI.md, not the developers' README with its build instructions.
func TestDescriptionIsForUsers(t *testing.T) {
	want, err := os.ReadFile(testenv.Runfile(t, "BTY_PYPI_MD", "//dist:dist_test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range wheels(t) {
		for _, meta := range members(t, path, func(n string) bool { return strings.HasSuffix(n, ".dist-info/METADATA") }) {
			_, desc, _ := strings.Cut(string(meta), "\n\n")
			if desc != string(want) {
				t.Errorf("%s: the long description is not dist/PYPI.md", filepath.Base(path))
			}
			for _, dev := range []string{"tools/bazel", "chroot", "gazelle"} {
				if strings.Contains(desc, dev) {
					t.Errorf("%s: the PyPI page mentions %q, a developer's matter", filepath.Base(path), dev)
				}
			}
		}
	}
}

func TestTwineCheck(t *testing.T) {
	twine := testenv.Tool(t, "twine", "twine")
	for _, path := range wheels(t) {
		out, err := exec.Command(twine, "check", "--strict", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASSED") {
			t.Errorf("twine check %s: %v\n%s", filepath.Base(path), err, out)
		}
	}
}

// pip installs the wheel offline into a fresh venv and the binaries run.
func TestPipInstall(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
		testenv.Require(t, "python3 -m venv (apt-get install python3-venv)", err)
		t.Fatalf("%s", out)
	}
	pip := filepath.Join(venv, "bin", "pip")
	if out, err := exec.Command(pip, "install", "--no-index", "--disable-pip-version-check", wheels(t)["amd64"]).CombinedOutput(); err != nil {
		t.Fatalf("pip install: %v\n%s", err, out)
	}
	for _, argv := range [][]string{{"bty", "--version"}, {"bty-web", "--help"}, {"bty-tftp", "--help"}} {
		out, err := exec.Command(filepath.Join(venv, "bin", argv[0]), argv[1:]...).CombinedOutput()
		if err != nil {
			t.Errorf("%v: %v\n%s", argv, err, out)
		}
		if !strings.Contains(string(out), strings.TrimPrefix(argv[0], "")) && argv[0] != "bty" {
			t.Errorf("%v printed %q", argv, out)
		}
	}
}

// members returns the contents of the wheel's members whose names match.
func members(t *testing.T, wheel string, match func(string) bool) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string][]byte{}
	for _, f := range zr.File {
		if !match(f.Name) {
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}
