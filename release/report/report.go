// Package report owns //:verify's verification report: which tests passed
// against which exact artifacts. tools/verify writes it inside the build;
// //release:publish reads it and refuses to publish any byte it does not
// pin. One schema, one reader, one writer.
package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Test is one test's outcome.
type Test struct {
	Label    string  `json:"label"`
	Passed   bool    `json:"passed"`
	Seconds  float64 `json:"seconds"`
	ExitCode int     `json:"exit_code"`
}

// Artifact is one release file and its digest. Path is where the file is
// on this machine, never part of the report.
type Artifact struct {
	Name   string `json:"name" toml:"name"`
	Size   int64  `json:"size" toml:"size"`
	SHA256 string `json:"sha256" toml:"sha256"`
	Path   string `json:"-" toml:"-"`
}

// Report is the verification report.
type Report struct {
	Tests     []Test     `json:"tests"`
	Artifacts []Artifact `json:"artifacts"`
}

// Digest hashes the file at path.
func Digest(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Artifact{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return Artifact{Name: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Path: path}, nil
}

// New builds a report from test outcomes (every one must have passed) and
// the artifacts at paths, sorted so the same inputs give the same bytes.
func New(tests []Test, paths []string) (Report, error) {
	r := Report{Tests: append([]Test{}, tests...), Artifacts: []Artifact{}}
	for _, t := range r.Tests {
		if !t.Passed {
			return r, fmt.Errorf("%s did not pass; the release cannot be verified", t.Label)
		}
	}
	seen := map[string]string{}
	for _, p := range paths {
		a, err := Digest(p)
		if err != nil {
			return r, fmt.Errorf("artifact: %w", err)
		}
		if other, dup := seen[a.Name]; dup {
			return r, fmt.Errorf("two artifacts are named %s (%s and %s)", a.Name, other, p)
		}
		seen[a.Name] = p
		r.Artifacts = append(r.Artifacts, a)
	}
	sort.Slice(r.Tests, func(i, j int) bool { return r.Tests[i].Label < r.Tests[j].Label })
	sort.Slice(r.Artifacts, func(i, j int) bool { return r.Artifacts[i].Name < r.Artifacts[j].Name })
	return r, nil
}

// Write writes r to path as indented JSON.
func (r Report) Write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read reads the report at path and checks that it lists tests and that
// every one passed.
func Read(path string) (Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Report{}, fmt.Errorf("verification report: %w (build //:verify)", err)
	}
	r, err := Parse(b)
	if err != nil {
		return r, fmt.Errorf("verification report %s: %w", path, err)
	}
	return r, nil
}

// Parse reads a report's bytes and checks that it lists tests and that
// every one passed.
func Parse(b []byte) (Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if len(r.Tests) == 0 {
		return r, fmt.Errorf("the report lists no tests")
	}
	for _, t := range r.Tests {
		if !t.Passed {
			return r, fmt.Errorf("%s did not pass", t.Label)
		}
	}
	return r, nil
}

// SHA256 is the hex sha256 of b (a report's bytes, say).
func SHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ErrUnverified marks bytes the report does not pin.
var ErrUnverified = errors.New("refusing to publish unverified bytes")

// Check hashes each file to publish and refuses any whose name, size or
// sha256 differs from the report's: only verified bytes are published. The
// result is sorted by name.
func (r Report) Check(files []string) ([]Artifact, error) {
	pinned := map[string]Artifact{}
	for _, a := range r.Artifacts {
		pinned[a.Name] = a
	}
	var out []Artifact
	for _, p := range files {
		a, err := Digest(p)
		if err != nil {
			return nil, err
		}
		want, ok := pinned[a.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s is not in the verification report: %w", a.Name, ErrUnverified)
		case want.SHA256 != a.SHA256 || want.Size != a.Size:
			return nil, fmt.Errorf("%s has sha256 %s (%d bytes) but the verification report pins %s (%d bytes): %w", a.Name, a.SHA256, a.Size, want.SHA256, want.Size, ErrUnverified)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
