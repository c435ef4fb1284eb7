// Package plan holds what a bty release is checked and described with
// before its steps run (package publish): the endpoints from config.toml,
// the check that PyPI lacks the version, and release.toml.
package plan

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bty-lab/bty/release/pypi"
	"github.com/bty-lab/bty/release/report"
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
		Project   string `toml:"project"`
		JSONAPI   string `toml:"json_api"`
		Upload    string `toml:"upload"`
		MintToken string `toml:"mint_token"`
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
		"registry.host": c.Registry.Host, "registry.namespace": c.Registry.Namespace, "pypi.project": c.PyPI.Project, "pypi.json_api": c.PyPI.JSONAPI, "pypi.upload": c.PyPI.Upload, "pypi.mint_token": c.PyPI.MintToken} {
		if v == "" {
			return c, fmt.Errorf("release config %s: %s is empty", path, name)
		}
	}
	return c, nil
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

// Signature names a file's sigstore bundle in release.toml. Its digest is
// not listed: a signature differs each time it is made.
type Signature struct {
	Name  string `toml:"name"`
	Signs string `toml:"signs"`
}

// Manifest renders release.toml: the release, every artifact with its size
// and sha256, and the signature bundle of each.
func Manifest(version string, released time.Time, artifacts []report.Artifact) ([]byte, error) {
	var b strings.Builder
	doc := struct {
		Version    string            `toml:"version"`
		Tag        string            `toml:"tag"`
		Released   string            `toml:"released"`
		Artifacts  []report.Artifact `toml:"artifacts"`
		Signatures []Signature       `toml:"signatures"`
	}{version, "v" + version, released.UTC().Format(time.RFC3339), artifacts, nil}
	for _, a := range artifacts {
		doc.Signatures = append(doc.Signatures, Signature{SignatureName(a.Name), a.Name})
	}
	err := toml.NewEncoder(&b).Encode(doc)
	return []byte(b.String()), err
}

// SignatureName is the name of file's sigstore bundle.
func SignatureName(file string) string { return file + ".sigstore.json" }
