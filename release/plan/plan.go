// Package plan plans and checks a bty release (spec: "Release"): it
// loads the endpoints from config.toml and the verification report from
// //:verify, refuses a version PyPI already has and any artifact whose
// digest the report does not pin, and lays out every step in order: tag,
// GitHub release with assets and release.toml, OCI pushes, PyPI uploads
// last.
package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/bty-lab/bty/release/pypi"
)

// Config is config.toml.
type Config struct {
	GitHub struct {
		API        string `toml:"api"`
		Uploads    string `toml:"uploads"`
		Repository string `toml:"repository"`
		GitRemote  string `toml:"git_remote"`
	} `toml:"github"`
	Registry struct {
		Host      string `toml:"host"`
		Namespace string `toml:"namespace"`
		Insecure  bool   `toml:"insecure"`
	} `toml:"registry"`
	PyPI struct {
		Project string `toml:"project"`
		JSONAPI string `toml:"json_api"`
		Upload  string `toml:"upload"`
	} `toml:"pypi"`
}

// LoadConfig reads and checks config.toml.
func LoadConfig(path string) (Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("release config %s: %w", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return c, fmt.Errorf("release config %s: unknown key %s", path, u[0])
	}
	for name, v := range map[string]string{"github.api": c.GitHub.API, "github.uploads": c.GitHub.Uploads, "github.repository": c.GitHub.Repository, "github.git_remote": c.GitHub.GitRemote,
		"registry.host": c.Registry.Host, "registry.namespace": c.Registry.Namespace, "pypi.project": c.PyPI.Project, "pypi.json_api": c.PyPI.JSONAPI, "pypi.upload": c.PyPI.Upload} {
		if v == "" {
			return c, fmt.Errorf("release config %s: %s is empty", path, name)
		}
	}
	return c, nil
}

// Artifact is a file to publish, as the verification report pins it.
type Artifact struct {
	Name   string `json:"name" toml:"name"`
	Size   int64  `json:"size" toml:"size"`
	SHA256 string `json:"sha256" toml:"sha256"`
	Path   string `json:"-" toml:"-"`
}

// Report is //:verify's output.
type Report struct {
	Tests []struct {
		Label  string `json:"label"`
		Passed bool   `json:"passed"`
	} `json:"tests"`
	Artifacts []Artifact `json:"artifacts"`
}

// LoadReport reads the verification report and checks every test passed.
func LoadReport(path string) (Report, error) {
	var r Report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("verification report: %w (build //:verify)", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("verification report %s: %w", path, err)
	}
	if len(r.Tests) == 0 {
		return r, fmt.Errorf("verification report %s lists no tests", path)
	}
	for _, t := range r.Tests {
		if !t.Passed {
			return r, fmt.Errorf("verification report: %s did not pass", t.Label)
		}
	}
	return r, nil
}

// Check hashes each file to publish and refuses any whose name, size or
// sha256 differs from the report's: only verified bytes are published.
func Check(r Report, files []string) ([]Artifact, error) {
	pinned := map[string]Artifact{}
	for _, a := range r.Artifacts {
		pinned[a.Name] = a
	}
	var out []Artifact
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		a := Artifact{Name: filepath.Base(p), Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Path: p}
		want, ok := pinned[a.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s is not in the verification report; refusing to publish unverified bytes", a.Name)
		case want.SHA256 != a.SHA256 || want.Size != a.Size:
			return nil, fmt.Errorf("%s has sha256 %s (%d bytes) but the verification report pins %s (%d bytes); refusing to publish", a.Name, a.SHA256, a.Size, want.SHA256, want.Size)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrPublished means PyPI already has the version: nothing may be written.
var ErrPublished = fmt.Errorf("version already on PyPI")

// CheckPyPI asks PyPI's JSON API whether version exists (step 1).
func CheckPyPI(ctx context.Context, c Config, version string, client *http.Client) error {
	found, err := (&pypi.Client{JSONAPI: c.PyPI.JSONAPI, Project: c.PyPI.Project, HTTP: client}).Exists(ctx, version)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("%s %s: %w; bump VERSION", c.PyPI.Project, version, ErrPublished)
	}
	return nil
}

// Manifest renders release.toml.
func Manifest(version string, released time.Time, artifacts []Artifact) ([]byte, error) {
	var b strings.Builder
	doc := struct {
		Version   string     `toml:"version"`
		Tag       string     `toml:"tag"`
		Released  string     `toml:"released"`
		Artifacts []Artifact `toml:"artifacts"`
	}{version, "v" + version, released.UTC().Format(time.RFC3339), artifacts}
	err := toml.NewEncoder(&b).Encode(doc)
	return []byte(b.String()), err
}

// Plan lists every remote write, in the order the release performs them.
func Plan(c Config, version string, artifacts []Artifact) []string {
	tag := "v" + version
	var p []string
	p = append(p, fmt.Sprintf("git tag %s (if missing) && git push origin %s", tag, tag))
	p = append(p, fmt.Sprintf("POST %s/repos/%s/releases {tag_name: %s} (or reuse the existing release)", c.GitHub.API, c.GitHub.Repository, tag))
	for _, a := range artifacts {
		if strings.HasSuffix(a.Name, ".whl") || strings.HasSuffix(a.Name, ".tar") {
			continue
		}
		p = append(p, fmt.Sprintf("POST %s/repos/%s/releases/{id}/assets?name=%s (%d bytes, sha256 %s) and %s.sha256, unless present with the same digest", c.GitHub.Uploads, c.GitHub.Repository, a.Name, a.Size, a.SHA256, a.Name))
	}
	p = append(p, fmt.Sprintf("POST %s/repos/%s/releases/{id}/assets?name=release.toml", c.GitHub.Uploads, c.GitHub.Repository))
	for _, a := range artifacts {
		if image, ok := strings.CutSuffix(a.Name, ".tar"); ok {
			for _, t := range []string{version, "latest"} {
				p = append(p, fmt.Sprintf("push OCI index %s (layout tarball sha256 %s) to %s/%s/%s:%s: blobs, platform manifests, then the index; confirm the digest", image, a.SHA256, c.Registry.Host, c.Registry.Namespace, image, t))
			}
		}
	}
	for _, a := range artifacts {
		if strings.HasSuffix(a.Name, ".whl") {
			p = append(p, fmt.Sprintf("POST %s %s (sha256 %s), unless PyPI has it with the same hash", c.PyPI.Upload, a.Name, a.SHA256))
		}
	}
	return p
}
