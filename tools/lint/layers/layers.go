// Package layers is a nogo analyzer that keeps bty-web's seams
// (docs/design.md, "Seams"): a package of the table below that imports
// what it may not fails the build, at the import.
//
// As an analyzer the rule holds for every file the moment it is written,
// tests included, and costs nothing once a package is cached.
package layers

import (
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports imports that cross a seam.
var Analyzer = &analysis.Analyzer{
	Name: "layers",
	Doc:  "reports imports that cross bty-web's seams (docs/design.md, \"Seams\")",
	Run:  run,
}

const bty = "github.com/bty-lab/bty/"

// forbidden lists, for each package, the import paths (and their
// subpackages) it may not import, with why.
var forbidden = map[string][]rule{
	bty + "bty/lab": {
		{"net/http", "the operations know nothing of HTTP: bty/web decodes requests and renders results"},
		{bty + "bty/web", "bty/web calls the operations, not the other way round"},
		{bty + "bty/config", "the operations get a lab.Config; bty/web maps the settings"},
	},
	bty + "bty/state": {
		{bty + "bty/lab", "the store is below the operations"},
		{bty + "bty/web", "the store is below the server"},
		{"net/http", "the store knows nothing of HTTP"},
	},
	bty + "bty/api": {
		{bty + "bty/lab", "the wire types carry no behaviour"},
		{bty + "bty/state", "the wire types carry no behaviour"},
		{bty + "bty/web", "the wire types carry no behaviour"},
	},
	bty + "bty/cloudinit": {
		{bty + "bty/", "the seed's renderer stands alone: bty-web renders, the flasher writes"},
	},
	bty + "bty/dhcpconf": {
		{bty + "bty/", "the DHCP decision table stands alone: bty-web and bty-tftp both use it"},
	},
	bty + "bty/tftp": {
		{bty + "bty/web", "bty-tftp is its own program"},
		{bty + "bty/lab", "bty-tftp is its own program"},
	},
}

type rule struct{ path, why string }

// Check returns why importing imp is refused in package pkg, or "".
func Check(pkg, imp string) string {
	pkg = strings.TrimSuffix(pkg, "_test") // an external test package keeps its package's rules
	for _, r := range forbidden[pkg] {
		if imp == r.path || strings.HasPrefix(imp, strings.TrimSuffix(r.path, "/")+"/") {
			return r.why
		}
	}
	return ""
}

func run(pass *analysis.Pass) (any, error) {
	pkg := pass.Pkg.Path()
	if _, ok := forbidden[strings.TrimSuffix(pkg, "_test")]; !ok {
		return nil, nil
	}
	for _, f := range pass.Files {
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				continue
			}
			if why := Check(pkg, imp); why != "" {
				pass.Reportf(spec.Pos(), "%s may not import %s: %s (docs/design.md, \"Seams\")", pkg, imp, why)
			}
		}
	}
	return nil, nil
}
