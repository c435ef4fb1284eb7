package gofmt

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/go/analysis"
)

// run parses the given files as one package and returns the analyzer's
// diagnostics; the files are real files because the analyzer reads them.
func runOn(t *testing.T, files map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	fset := token.NewFileSet()
	var parsed []*ast.File
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
	}
	var got []string
	pass := &analysis.Pass{
		Analyzer: Analyzer,
		Fset:     fset,
		Files:    parsed,
		Report:   func(d analysis.Diagnostic) { got = append(got, d.Message) },
	}
	if _, err := Analyzer.Run(pass); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFlagsOnlyUnformattedFiles(t *testing.T) {
	got := runOn(t, map[string]string{
		"good.go": "package p\n\nfunc Good() int { return 1 }\n",
		"bad.go":  "package p\n\nfunc  Bad() int {\nreturn 2 }\n",
	})
	if len(got) != 1 {
		t.Fatalf("got %d diagnostics %q, want 1 for bad.go", len(got), got)
	}
	if !strings.Contains(got[0], "bad.go is not gofmt-formatted") || !strings.Contains(got[0], "fix: gofmt -w ") {
		t.Errorf("diagnostic %q does not name the file and the fix", got[0])
	}
}

func TestFormattedPackageIsClean(t *testing.T) {
	if got := runOn(t, map[string]string{"a.go": "package p\n\nvar A = 1\n"}); len(got) != 0 {
		t.Errorf("unexpected diagnostics: %q", got)
	}
}
