package gofmt

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"
)

// The analyzer flags exactly the unformatted file of a package.
func TestAnalyzer(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "src", "p")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"good.go": "package p\n\nfunc Good() int { return 1 }\n",
		// The "want" comment is where analysistest expects the diagnostic.
		"bad.go": "package p // want `bad.go is not gofmt-formatted; fix: gofmt -w .*bad.go`\n\nfunc  Bad() int {\nreturn 2 }\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(pkg, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	analysistest.Run(t, dir, Analyzer, "p")
}
