package spdx

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/bty-lab/bty/tools/userepo"
)

// Modules knows the main module's requirements: each module's selected
// version (go.mod) and hash (go.sum), by the name Bazel gives its
// repository (gazelle's go_deps: github.com/spf13/cobra is
// com_github_spf13_cobra).
type Modules struct {
	Main      string // the main module's path
	Toolchain string // e.g. go1.26.8
	byRepo    map[string]Module
}

// ParseModules reads go.mod and go.sum.
func ParseModules(gomod, gosum []byte) (*Modules, error) {
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(gosum))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && !strings.HasSuffix(fields[1], "/go.mod") {
			sums[fields[0]+"@"+fields[1]] = fields[2]
		}
	}
	m := &Modules{Main: f.Module.Mod.Path, byRepo: map[string]Module{}}
	if f.Toolchain != nil {
		m.Toolchain = f.Toolchain.Name
	} else if f.Go != nil {
		m.Toolchain = "go" + f.Go.Version
	}
	for _, r := range f.Require {
		sum, ok := sums[r.Mod.Path+"@"+r.Mod.Version]
		if !ok {
			return nil, fmt.Errorf("go.sum has no hash for %s %s; run go mod tidy", r.Mod.Path, r.Mod.Version)
		}
		m.byRepo[userepo.RepoName(r.Mod.Path)] = Module{r.Mod.Path, r.Mod.Version, sum}
	}
	return m, nil
}

// ForRepos returns the modules of Bazel repositories, by their canonical
// names ("gazelle~~go_deps~com_github_spf13_cobra", "" for the main
// repository, which is the main module and is left out). A repository that
// is no module of go.mod is an error: the SBOM would miss it.
func (m *Modules) ForRepos(repos []string) ([]Module, error) {
	seen := map[string]bool{}
	var out []Module
	for _, r := range repos {
		if r == "" || r == "_main" {
			continue
		}
		name := r[strings.LastIndexAny(r, "~+")+1:]
		if name == "" {
			// rules_go's own repository ("rules_go~"): its Go packages are
			// the github.com/bazelbuild/rules_go module.
			name = userepo.RepoName("github.com/bazelbuild/" + strings.TrimRight(r, "~+"))
		}
		mod, ok := m.byRepo[name]
		if !ok {
			return nil, fmt.Errorf("Bazel repository %s links Go code into the binary, but no module of go.mod has that repository name", r)
		}
		if !seen[mod.Path] {
			seen[mod.Path] = true
			out = append(out, mod)
		}
	}
	return out, nil
}
