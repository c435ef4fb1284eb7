// Package gofmt is a nogo analyzer that fails the build of any Go package of
// this repository whose files are not gofmt-formatted.
//
// Running the check as an analyzer (instead of a test that walks the tree)
// makes it exact and cached: Bazel re-checks a file only when it changes, and
// a new package is covered the moment it exists.
package gofmt

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports each file whose content differs from gofmt's output.
var Analyzer = &analysis.Analyzer{
	Name: "gofmt",
	Doc:  "reports Go files that are not gofmt-formatted",
	Run:  run,
}

func run(pass *analysis.Pass) (any, error) {
	for _, f := range pass.Files {
		name := pass.Fset.File(f.Pos()).Name()
		// cgo and other generated inputs live in Bazel's output tree, not
		// in the source tree; only sources people edit are checked.
		if strings.Contains(name, "bazel-out/") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		want, err := format.Source(src)
		if err != nil {
			// The compiler reports syntax errors better than we could.
			continue
		}
		if !bytes.Equal(src, want) {
			pass.Reportf(f.Package, "%s is not gofmt-formatted; fix: gofmt -w %s (or: tools/bazel run //:tidy)", name, name)
		}
	}
	return nil, nil
}
