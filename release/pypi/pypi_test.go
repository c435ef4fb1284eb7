package pypi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/release/fakes"
)

func wheels(t *testing.T) []string {
	t.Helper()
	var out []string
	out = append(out, testenv.Runfiles(t, "BTY_WHEELS", "//release/pypi:pypi_test")...)
	if len(out) != 2 {
		testenv.Require(t, "the Bazel-built wheels", os.ErrNotExist)
	}
	return out
}

func client(url string) *Client {
	return &Client{Upload: url + "/legacy/", JSONAPI: url + "/pypi", Project: "bty-lab", Token: "pypi-test", HTTP: http.DefaultClient}
}

// An upload that fails half-way is completed by a re-run, which uploads
// only the missing file; a third run uploads nothing.
func TestUploadResumesWithoutReuploading(t *testing.T) {
	ws := wheels(t)
	x := fakes.NewIndex("pypi-test")
	x.FailOn = filepath.Base(ws[1])
	srv := httptest.NewServer(x)
	defer srv.Close()
	c := client(srv.URL)
	nolog := func(string, ...any) {}
	if err := c.UploadAll(context.Background(), "0.1.0", ws, nolog); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("first run: %v, want the injected failure", err)
	}
	for run := 2; run <= 3; run++ {
		if err := c.UploadAll(context.Background(), "0.1.0", ws, nolog); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	for _, w := range ws {
		if n := x.Uploads[filepath.Base(w)]; n != 1 {
			t.Errorf("%s uploaded %d times", filepath.Base(w), n)
		}
	}
	bad := *c
	bad.Token = "wrong"
	x2 := fakes.NewIndex("pypi-test")
	srv2 := httptest.NewServer(x2)
	defer srv2.Close()
	bad.Upload, bad.JSONAPI = srv2.URL+"/legacy/", srv2.URL+"/pypi"
	if err := bad.UploadAll(context.Background(), "0.1.0", ws[:1], nolog); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("bad token: %v (must fail, and never echo the token)", err)
	}
}

// Our form carries the same values as Debian's twine sends for the same
// file, and pip installs from the index afterwards.
func TestMatchesTwineAndPipInstalls(t *testing.T) {
	ws := wheels(t)
	twine := testenv.Tool(t, "twine", "twine")
	ours, theirs := fakes.NewIndex("pypi-test"), fakes.NewIndex("pypi-test")
	a, b := httptest.NewServer(ours), httptest.NewServer(theirs)
	defer a.Close()
	defer b.Close()
	if err := client(a.URL).UploadAll(context.Background(), "0.1.0", ws[:1], func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(twine, "upload", "--non-interactive", "--disable-progress-bar", "--repository-url", b.URL+"/legacy/", "-u", "__token__", "-p", "pypi-test", ws[0])
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("twine upload: %v\n%s", err, out)
	}
	if len(ours.Forms) != 1 || len(theirs.Forms) != 1 {
		t.Fatalf("forms: ours %d, twine %d", len(ours.Forms), len(theirs.Forms))
	}
	for k, v := range ours.Forms[0] {
		if k == "description" {
			continue // twine may normalise line endings
		}
		if fmt.Sprint(theirs.Forms[0][k]) != fmt.Sprint(v) {
			t.Errorf("field %s: ours %q, twine %q", k, v, theirs.Forms[0][k])
		}
	}
	// pip installs the uploaded amd64 wheel from the index.
	python := testenv.Tool(t, "python3", "python3")
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v %s", err, out)
	}
	out, err := exec.Command(filepath.Join(venv, "bin/pip"), "install", "--disable-pip-version-check", "--index-url", a.URL+"/simple/", "bty-lab==0.1.0").CombinedOutput()
	if err != nil {
		t.Fatalf("pip install from the index: %v\n%s", err, out)
	}
	if out, err := exec.Command(filepath.Join(venv, "bin/bty"), "--version").CombinedOutput(); err != nil || !strings.Contains(string(out), "0.1.0") {
		t.Errorf("bty --version after pip install: %v %s", err, out)
	}
}
