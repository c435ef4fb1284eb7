package dist_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/internal/wheelcheck"
)

func sdist(t *testing.T) string {
	return testenv.Runfile(t, "BTY_SDIST", "//dist:dist_test")
}

// The sdist is what PyPI takes: its name, a PKG-INFO that is the wheels'
// METADATA (one set of metadata), and twine's own check.
func TestSdistMetadata(t *testing.T) {
	s, err := wheelcheck.CheckSdist(sdist(t))
	if err != nil {
		t.Fatal(err)
	}
	w, err := wheelcheck.Check(wheels(t)["amd64"])
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != w.Name || s.Version != w.Version || s.Description != w.Description || strings.Join(s.Metadata["Summary"], "") != strings.Join(w.Metadata["Summary"], "") {
		t.Errorf("sdist %s %s, wheel %s %s: their metadata differ", s.Name, s.Version, w.Name, w.Version)
	}
	twine := testenv.Tool(t, "twine", "twine")
	if out, err := exec.Command(twine, "check", "--strict", sdist(t)).CombinedOutput(); err != nil || !strings.Contains(string(out), "PASSED") {
		t.Errorf("twine check: %v\n%s", err, out)
	}
}

// pip builds the sdist in a fresh venv with the Go toolchain and nothing
// else (no index, GOPROXY=off: no network), and the programs it installs
// are the wheel's: the same version and the same commands.
func TestSdistBuildsWithPip(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	goBin := testenv.GoSDK(t, testenv.Runfile(t, "BTY_GO", "//dist:dist_test"))
	tmp := t.TempDir()
	env := []string{"PATH=" + goBin + ":/usr/bin:/bin", "HOME=" + tmp, "GOPROXY=off", "GOCACHE=" + filepath.Join(tmp, "gocache"), "LANG=C.UTF-8"}
	install := func(dir, what string) string {
		venv := filepath.Join(tmp, dir)
		if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
			testenv.Require(t, "python3 -m venv (apt-get install python3-venv)", err)
			t.Fatalf("%s", out)
		}
		cmd := exec.Command(filepath.Join(venv, "bin", "pip"), "install", "--no-index", "--no-cache-dir", "--disable-pip-version-check", what)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pip install %s: %v\n%s", filepath.Base(what), err, out)
		}
		return filepath.Join(venv, "bin")
	}
	fromSource, fromWheel := install("sdist", sdist(t)), install("wheel", wheels(t)["amd64"])
	for _, argv := range [][]string{{"bty", "--version"}, {"bty", "--help"}, {"bty-web", "--version"}, {"bty-web", "--help"}, {"bty-tftp", "--help"}} {
		run := func(bin string) string {
			out, err := exec.Command(filepath.Join(bin, argv[0]), argv[1:]...).CombinedOutput()
			if err != nil {
				t.Errorf("%s %v: %v\n%s", bin, argv, err, out)
			}
			return strings.ReplaceAll(string(out), bin+"/", "") // flag's usage names the program's path
		}
		if got, want := run(fromSource), run(fromWheel); got != want || want == "" {
			t.Errorf("%v built from the sdist printed\n%s\nthe wheel's\n%s", argv, got, want)
		}
	}
	if st, err := os.Stat(filepath.Join(fromSource, "bty")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("bty from the sdist: %v, mode %v; want an executable", err, st.Mode())
	}
}
