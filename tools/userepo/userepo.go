// Package userepo keeps MODULE.bazel's use_repo(go_deps, ...) in step with
// go.mod: every direct requirement and every module of a tool directive
// becomes a visible repository, except the
// Go modules that are Bazel modules themselves (rules_go, gazelle), which
// go_deps does not generate.
//
// `bazel mod tidy` does the same, but it cannot run inside the `bazel run`
// of //:tidy; this needs no Bazel at all.
package userepo

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/bazelbuild/buildtools/build"
	"golang.org/x/mod/modfile"
)

// extension is the variable MODULE.bazel binds gazelle's go_deps to.
const extension = "go_deps"

var nonWord = regexp.MustCompile(`[^\w]+`)

// RepoName is the repository name gazelle's go_deps gives a Go module:
// the host reversed, then the path, lower case, non-word runs as "_"
// (github.com/BurntSushi/toml -> com_github_burntsushi_toml).
func RepoName(modulePath string) string {
	parts := strings.Split(strings.ToLower(modulePath), "/")
	host := strings.Split(parts[0], ".")
	slices.Reverse(host)
	return nonWord.ReplaceAllString(strings.Join(append(host, parts[1:]...), "."), "_")
}

// bazelModules are Go modules that MODULE.bazel has as bazel_dep: Go code
// importing them is resolved to those modules' repositories.
var bazelModules = map[string]bool{
	"github.com/bazelbuild/rules_go":      true,
	"github.com/bazelbuild/bazel-gazelle": true,
}

// Repos lists, sorted, the repositories go.mod's direct requirements need.
func Repos(goMod []byte) ([]string, error) {
	f, err := modfile.Parse("go.mod", goMod, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing go.mod: %w", err)
	}
	// go.mod's tool directives (actionlint, buildozer) are used by BUILD
	// files too; their modules may be listed as indirect.
	isTool := func(mod string) bool {
		for _, tl := range f.Tool {
			if tl.Path == mod || strings.HasPrefix(tl.Path, mod+"/") {
				return true
			}
		}
		return false
	}
	var repos []string
	for _, r := range f.Require {
		if (!r.Indirect || isTool(r.Mod.Path)) && !bazelModules[r.Mod.Path] {
			repos = append(repos, RepoName(r.Mod.Path))
		}
	}
	slices.Sort(repos)
	return slices.Compact(repos), nil
}

// Rewrite returns MODULE.bazel with its use_repo(go_deps, ...) call listing
// exactly the repositories go.mod needs, formatted as buildifier would.
func Rewrite(moduleBazel, goMod []byte) ([]byte, error) {
	repos, err := Repos(goMod)
	if err != nil {
		return nil, err
	}
	f, err := build.ParseModule("MODULE.bazel", moduleBazel)
	if err != nil {
		return nil, fmt.Errorf("parsing MODULE.bazel: %w", err)
	}
	args := []build.Expr{&build.Ident{Name: extension}}
	for _, r := range repos {
		args = append(args, &build.StringExpr{Value: r})
	}
	var found bool
	for _, stmt := range f.Stmt {
		call, ok := stmt.(*build.CallExpr)
		if !ok || len(call.List) == 0 {
			continue
		}
		fn, ok := call.X.(*build.Ident)
		first, ok2 := call.List[0].(*build.Ident)
		if ok && ok2 && fn.Name == "use_repo" && first.Name == extension {
			call.List = args
			call.ForceMultiLine = len(args) > 2
			found = true
		}
	}
	if !found {
		f.Stmt = append(f.Stmt, &build.CallExpr{X: &build.Ident{Name: "use_repo"}, List: args, ForceMultiLine: len(args) > 2})
	}
	return build.Format(f), nil
}
