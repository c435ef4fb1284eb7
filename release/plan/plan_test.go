package plan

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/release/report"
)

func TestConfigInRepo(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.PyPI.Project != "bty-lab" {
		t.Errorf("config = %+v", c)
	}
}

func TestCheckPyPI(t *testing.T) {
	var c Config
	c.PyPI.Project = "bty-lab"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pypi/bty-lab/1.0.0/json" {
			w.Write([]byte(`{"info":{"version":"1.0.0"}}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c.PyPI.JSONAPI = srv.URL + "/pypi"
	if err := CheckPyPI(context.Background(), c, "1.0.0", srv.Client()); !errors.Is(err, ErrPublished) {
		t.Errorf("published version: %v", err)
	}
	if err := CheckPyPI(context.Background(), c, "1.1.0", srv.Client()); err != nil {
		t.Errorf("new version: %v", err)
	}
}

// release.toml lists the version, the tag and every artifact.
func TestManifest(t *testing.T) {
	arts := []report.Artifact{{Name: "a.whl", Size: 8, SHA256: strings.Repeat("a", 64)}}
	m, err := Manifest("1.2.3", time.Unix(0, 0), arts)
	if err != nil || !strings.Contains(string(m), `tag = "v1.2.3"`) || !strings.Contains(string(m), "[[artifacts]]") || !strings.Contains(string(m), `name = "a.whl"`) ||
		!strings.Contains(string(m), "[[signatures]]\n  name = \"a.whl.sigstore.json\"\n  signs = \"a.whl\"") {
		t.Errorf("release.toml:\n%s %v", m, err)
	}
}
