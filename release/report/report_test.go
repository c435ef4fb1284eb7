package report

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func file(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, []byte(content), 0o644)
	return p
}

func TestWriteReadCheck(t *testing.T) {
	a, b := file(t, "b.efi", "bee"), file(t, "a.whl", "ay")
	r, err := New([]Test{{Label: "//z:t", Passed: true}, {Label: "//a:t", Passed: true}}, []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "verify.json")
	if err := r.Write(p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tests[0].Label != "//a:t" || got.Artifacts[0].Name != "a.whl" || got.Artifacts[1].Name != "b.efi" || got.Artifacts[1].Size != 3 {
		t.Errorf("report not sorted: %+v", got)
	}
	if arts, err := got.Check([]string{a, b}); err != nil || len(arts) != 2 || arts[1].Path != a {
		t.Errorf("Check of the pinned files: %v %+v", err, arts)
	}
	tampered := file(t, "b.efi", "bee!")
	if _, err := got.Check([]string{tampered}); !errors.Is(err, ErrUnverified) {
		t.Errorf("tampered file: err = %v", err)
	}
	if _, err := got.Check([]string{file(t, "c.iso", "x")}); !errors.Is(err, ErrUnverified) {
		t.Errorf("unpinned file: err = %v", err)
	}
}

func TestRefusals(t *testing.T) {
	if _, err := New([]Test{{Label: "//a:t", Passed: false}}, nil); err == nil || !strings.Contains(err.Error(), "//a:t did not pass") {
		t.Errorf("failed test: %v", err)
	}
	if _, err := New(nil, []string{filepath.Join(t.TempDir(), "missing.efi")}); err == nil || !strings.Contains(err.Error(), "missing.efi") {
		t.Errorf("missing artifact: %v", err)
	}
	if _, err := New(nil, []string{file(t, "x.efi", "1"), file(t, "x.efi", "2")}); err == nil || !strings.Contains(err.Error(), "two artifacts") {
		t.Errorf("duplicate names: %v", err)
	}
	for name, content := range map[string]string{"empty.json": `{"tests":[]}`, "failed.json": `{"tests":[{"label":"//a:t","passed":false}]}`, "bad.json": `{`} {
		if _, err := Read(file(t, name, content)); err == nil {
			t.Errorf("%s read without an error", name)
		}
	}
}
