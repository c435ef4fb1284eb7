package pypi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

// index is a small package index: the legacy upload API, the JSON API, the
// simple index and file downloads. It records every upload's form.
type index struct {
	mu      sync.Mutex
	files   map[string][]byte
	forms   []map[string][]string
	failOn  string // an upload of this file name fails once with 500
	uploads map[string]int
}

func newIndex() *index { return &index{files: map[string][]byte{}, uploads: map[string]int{}} }

func (x *index) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/legacy/":
		if u, p, ok := r.BasicAuth(); !ok || u != "__token__" || p != "pypi-test" {
			http.Error(w, "invalid credentials", http.StatusForbidden)
			return
		}
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, h, err := r.FormFile("content")
		if err != nil {
			http.Error(w, "no content", http.StatusBadRequest)
			return
		}
		data, _ := io.ReadAll(f)
		if x.failOn == h.Filename {
			x.failOn = ""
			http.Error(w, "transient failure", http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(data)
		if r.FormValue("sha256_digest") != hex.EncodeToString(sum[:]) || r.FormValue(":action") != "file_upload" {
			http.Error(w, "digest mismatch", http.StatusBadRequest)
			return
		}
		if _, dup := x.files[h.Filename]; dup {
			http.Error(w, "File already exists", http.StatusBadRequest)
			return
		}
		form := map[string][]string{"content": {h.Filename}}
		for k, v := range r.MultipartForm.Value {
			form[k] = v
		}
		x.forms = append(x.forms, form)
		x.files[h.Filename] = data
		x.uploads[h.Filename]++
	case strings.HasSuffix(r.URL.Path, "/json"):
		var urls []map[string]any
		for name, data := range x.files {
			sum := sha256.Sum256(data)
			urls = append(urls, map[string]any{"filename": name, "digests": map[string]string{"sha256": hex.EncodeToString(sum[:])}})
		}
		if len(urls) == 0 {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"urls": urls})
	case strings.HasPrefix(r.URL.Path, "/simple/"):
		fmt.Fprint(w, "<!DOCTYPE html><html><body>\n")
		for name, data := range x.files {
			sum := sha256.Sum256(data)
			fmt.Fprintf(w, "<a href=\"/files/%s#sha256=%s\">%s</a>\n", name, hex.EncodeToString(sum[:]), name)
		}
		fmt.Fprint(w, "</body></html>\n")
	case strings.HasPrefix(r.URL.Path, "/files/"):
		data, ok := x.files[strings.TrimPrefix(r.URL.Path, "/files/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	default:
		http.NotFound(w, r)
	}
}

func wheels(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, rel := range strings.Fields(os.Getenv("BTY_WHEELS")) {
		out = append(out, filepath.Join(os.Getenv("TEST_SRCDIR"), rel))
	}
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
	x := newIndex()
	x.failOn = filepath.Base(ws[1])
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
		if n := x.uploads[filepath.Base(w)]; n != 1 {
			t.Errorf("%s uploaded %d times", filepath.Base(w), n)
		}
	}
	bad := *c
	bad.Token = "wrong"
	x2 := newIndex()
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
	ours, theirs := newIndex(), newIndex()
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
	if len(ours.forms) != 1 || len(theirs.forms) != 1 {
		t.Fatalf("forms: ours %d, twine %d", len(ours.forms), len(theirs.forms))
	}
	for k, v := range ours.forms[0] {
		if k == "description" {
			continue // twine may normalise line endings
		}
		if fmt.Sprint(theirs.forms[0][k]) != fmt.Sprint(v) {
			t.Errorf("field %s: ours %q, twine %q", k, v, theirs.forms[0][k])
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
