package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestCheckRefusesUnverifiedBytes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "a.whl")
	os.WriteFile(good, []byte("verified"), 0o644)
	rep := Report{Artifacts: []Artifact{{Name: "a.whl", Size: 8, SHA256: "6a6e3b0b0b58a0b0c7d0c30b4d0e0bde4d3ad2f3b6bb4fbd1f3b0f1c5a3e6c8f"}}}
	if _, err := Check(rep, []string{good}); err == nil || !strings.Contains(err.Error(), "refusing to publish") {
		t.Errorf("wrong digest: %v", err)
	}
	other := filepath.Join(dir, "b.whl")
	os.WriteFile(other, []byte("x"), 0o644)
	if _, err := Check(rep, []string{other}); err == nil || !strings.Contains(err.Error(), "not in the verification report") {
		t.Errorf("unlisted artifact: %v", err)
	}
	arts, err := Check(Report{Artifacts: []Artifact{{Name: "a.whl", Size: 8, SHA256: sha("verified")}}}, []string{good})
	if err != nil || len(arts) != 1 {
		t.Errorf("verified artifact: %v", err)
	}
	m, err := Manifest("1.2.3", time.Unix(0, 0), arts)
	if err != nil || !strings.Contains(string(m), `tag = "v1.2.3"`) || !strings.Contains(string(m), "[[artifacts]]") {
		t.Errorf("release.toml:\n%s %v", m, err)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
