// Package lint holds the style checks that need the whole source tree:
// buildifier on every Starlark file and shellcheck on every shell script.
// (gofmt and vet run per package at build time, through nogo.)
//
// The tests read the workspace itself, so Bazel runs them unsandboxed and
// never caches them (tags "external", "no-sandbox"): a new BUILD file or
// script is checked the moment it exists, with no list to keep up to date.
package lint

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/bazelbuild/buildtools/build"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/userepo"
)

// workspace returns the root of the source tree: under Bazel, the directory
// the MODULE.bazel runfile links to; under `go test`, two levels up.
func workspace(t *testing.T) string {
	t.Helper()
	if srcdir := os.Getenv("TEST_SRCDIR"); srcdir != "" {
		link := filepath.Join(srcdir, os.Getenv("TEST_WORKSPACE"), "MODULE.bazel")
		real, err := filepath.EvalSymlinks(link)
		if err != nil {
			t.Fatalf("locating the source tree from %s: %v", link, err)
		}
		return filepath.Dir(real)
	}
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// sources walks the tree and calls fn with each regular file's path relative
// to root, skipping VCS data and Bazel's convenience symlinks.
func sources(t *testing.T, root string, fn func(rel string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && (name == ".git" || name == "node_modules" || (strings.HasPrefix(name, "bazel-") && path != root)) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, path)
			fn(rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
}

func isStarlark(rel string) bool {
	base := filepath.Base(rel)
	switch {
	case base == "BUILD", base == "BUILD.bazel", base == "MODULE.bazel", base == "WORKSPACE", base == "WORKSPACE.bazel", base == "REPO.bazel":
		return true
	case strings.HasSuffix(base, ".bzl"), strings.HasSuffix(base, ".bazel"):
		return true
	}
	return false
}

func TestBuildifier(t *testing.T) {
	root := workspace(t)
	checked := 0
	sources(t, root, func(rel string) {
		if !isStarlark(rel) {
			return
		}
		checked++
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Error(err)
			return
		}
		f, err := build.Parse(rel, data)
		if err != nil {
			t.Errorf("%s does not parse: %v", rel, err)
			return
		}
		if !bytes.Equal(build.Format(f), data) {
			t.Errorf("%s is not buildifier-formatted; fix: tools/bazel run //:tidy (or: tools/bazel run //:buildifier -- %s)", rel, rel)
		}
	})
	if checked == 0 {
		t.Fatalf("found no BUILD or .bzl files under %s", root)
	}
}

// isShell tells a shell script by its name or its #! line.
func isShell(path string) bool {
	if strings.HasSuffix(path, ".sh") || strings.HasSuffix(path, ".bash") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := f.Read(head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	for _, sh := range []string{"#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash", "#!/usr/bin/env sh"} {
		if strings.HasPrefix(line, sh) {
			return true
		}
	}
	return false
}

func TestShellcheck(t *testing.T) {
	shellcheck := testenv.Tool(t, "shellcheck", "shellcheck")
	root := workspace(t)
	var scripts []string
	sources(t, root, func(rel string) {
		if isShell(filepath.Join(root, rel)) {
			scripts = append(scripts, rel)
		}
	})
	if len(scripts) == 0 {
		t.Fatalf("found no shell scripts under %s", root)
	}
	for _, s := range scripts {
		cmd := exec.Command(shellcheck, "--external-sources", s)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s\nfix the findings above (or disable one with a '# shellcheck disable=SCxxxx # reason' comment)", s, err, out)
		}
	}
	t.Logf("shellcheck: checked %d scripts: %s", len(scripts), strings.Join(scripts, " "))
}

// Bazel must build with exactly the Go toolchain go.mod pins (tools/bazel
// arranges it); a test binary reports the toolchain that compiled it.
func TestGoToolchainIsPinned(t *testing.T) {
	if os.Getenv("TEST_SRCDIR") == "" {
		// Outside Bazel the toolchain is whatever the go command picked
		// (GOTOOLCHAIN, `go env GOTOOLCHAIN`), not tools/bazel's choice.
		t.Skip("TEST_SRCDIR is unset, so this is not a Bazel test run; this test checks the Go SDK tools/bazel hands to Bazel")
	}
	data, err := os.ReadFile(filepath.Join(workspace(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var pinned string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "toolchain "); ok {
			pinned = strings.TrimSpace(v)
		}
	}
	if pinned == "" {
		t.Fatal("go.mod has no toolchain line; add one, e.g. 'toolchain go1.26.8'")
	}
	if got := runtime.Version(); got != pinned {
		t.Errorf("Bazel built this test with %s, but go.mod pins %s; run Bazel through tools/bazel, which selects the pinned toolchain", got, pinned)
	}
}

// MODULE.bazel must make every direct Go dependency visible, or a new import
// fails to build with an "unknown repo" error far from its cause.
func TestUseRepo(t *testing.T) {
	root := workspace(t)
	module, err := os.ReadFile(filepath.Join(root, "MODULE.bazel"))
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := userepo.Rewrite(module, goMod)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, module) {
		t.Errorf("MODULE.bazel's use_repo(go_deps, ...) does not match go.mod's direct requirements; fix: tools/bazel run //:tidy")
	}
}

// Every test target is either run by //:verify (the release gate) or listed,
// with its reason, in VERIFY_EXCLUDED: a new test cannot be forgotten.
func TestVerifyCoversEveryTest(t *testing.T) {
	root := workspace(t)
	lists := map[string]map[string]bool{"VERIFY_TESTS": {}, "VERIFY_EXCLUDED": {}}
	data, err := os.ReadFile(filepath.Join(root, "BUILD.bazel"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := build.ParseBuild("BUILD.bazel", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range f.Stmt {
		assign, ok := stmt.(*build.AssignExpr)
		if !ok {
			continue
		}
		name, ok := assign.LHS.(*build.Ident)
		if !ok || lists[name.Name] == nil {
			continue
		}
		if l, ok := assign.RHS.(*build.ListExpr); ok {
			for _, e := range l.List {
				if s, ok := e.(*build.StringExpr); ok {
					lists[name.Name][s.Value] = true
				}
			}
		}
	}
	var tests []string
	sources(t, root, func(rel string) {
		if filepath.Base(rel) != "BUILD.bazel" {
			return
		}
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		f, err := build.ParseBuild(rel, data)
		if err != nil {
			t.Fatal(err)
		}
		pkg := filepath.Dir(rel)
		if pkg == "." {
			pkg = ""
		}
		pkgVisible := false
		for _, r := range f.Rules("package") {
			pkgVisible = visibleToRoot(r.Attr("default_visibility"))
		}
		for _, r := range f.Rules("") {
			if !strings.HasSuffix(r.Kind(), "_test") || r.Kind() == "gazelle_test" {
				continue
			}
			// //:verify (a manual target, which `bazel test //...` never
			// analyses) depends on each test: one it cannot see fails the
			// release's analysis, not the test run.
			if pkg != "" && !pkgVisible && !visibleToRoot(r.Attr("visibility")) {
				t.Errorf("//%s:%s is not visible to //:verify; add package(default_visibility = [\"//:__pkg__\"]) to %s", pkg, r.Name(), rel)
			}
			manual := false
			if tags, ok := r.Attr("tags").(*build.ListExpr); ok {
				for _, tag := range tags.List {
					if s, ok := tag.(*build.StringExpr); ok && s.Value == "manual" {
						manual = true
					}
				}
			}
			if !manual {
				tests = append(tests, "//"+pkg+":"+r.Name())
			}
		}
	})
	if len(tests) < 10 {
		t.Fatalf("found only %d test targets: %v", len(tests), tests)
	}
	for _, label := range tests {
		in, out := lists["VERIFY_TESTS"][label], lists["VERIFY_EXCLUDED"][label]
		switch {
		case !in && !out:
			t.Errorf("%s is not run by //:verify; add it to VERIFY_TESTS in BUILD.bazel (or, with a reason, to VERIFY_EXCLUDED)", label)
		case in && out:
			t.Errorf("%s is in both VERIFY_TESTS and VERIFY_EXCLUDED", label)
		}
		delete(lists["VERIFY_TESTS"], label)
		delete(lists["VERIFY_EXCLUDED"], label)
	}
	for name, rest := range lists {
		for label := range rest {
			t.Errorf("%s lists %s, which is not a test target", name, label)
		}
	}
}

// visibleToRoot reports whether a visibility list lets the root package
// (//:verify) depend on a target.
func visibleToRoot(e build.Expr) bool {
	l, ok := e.(*build.ListExpr)
	if !ok {
		return false
	}
	for _, v := range l.List {
		if s, ok := v.(*build.StringExpr); ok && (s.Value == "//:__pkg__" || s.Value == "//visibility:public") {
			return true
		}
	}
	return false
}

// pathRef finds path-like tokens: dir/dir/file.ext.
var pathRef = regexp.MustCompile(`(?:\.\./)?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+\.(?:md|go|bzl|bazel|sh|toml|txt|ipxe|json)\b`)

// docRef finds names of top-level documents: README.md, DESIGN.md, ...
var docRef = regexp.MustCompile(`\b[A-Z][A-Z_-]+\.md\b`)

// Every reference to a file of the repository, in code, BUILD files,
// scripts and documents, resolves inside it: a reader who cloned it can
// follow each one (no design notes kept elsewhere, no renamed files).
func TestReferencesResolve(t *testing.T) {
	root := workspace(t)
	top := map[string]bool{}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "bazel-") {
			top[e.Name()] = true
		}
	}
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(root, p)); return err == nil }
	checked := 0
	sources(t, root, func(rel string) {
		switch filepath.Ext(rel) {
		case ".go", ".bzl", ".bazel", ".sh", ".md", ".toml", ".txt", ".ipxe", ".bazelrc":
		default:
			if rel != "tools/bazel" && rel != ".ci/run" && rel != ".bazelrc" {
				return
			}
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range pathRef.FindAllStringIndex(text, -1) {
			ref := text[m[0]:m[1]]
			if m[0] > 0 && strings.ContainsRune("/$:.@-_~", rune(text[m[0]-1])) {
				continue // an absolute path, a variable, a URL, a label
			}
			first, _, _ := strings.Cut(strings.TrimPrefix(ref, "../"), "/")
			switch {
			case strings.HasPrefix(ref, "../") || first == "shared":
				t.Errorf("%s refers to %s, outside the repository; bring what it says into docs/", rel, ref)
			case top[first] && !exists(ref):
				t.Errorf("%s refers to %s, which does not exist", rel, ref)
			}
			checked++
		}
		for _, ref := range docRef.FindAllString(text, -1) {
			if !exists(ref) && !exists(filepath.Join(filepath.Dir(rel), ref)) && !exists(filepath.Join("docs", strings.ToLower(ref))) {
				t.Errorf("%s refers to %s, which is not in the repository", rel, ref)
			}
			checked++
		}
	})
	t.Logf("checked %d references", checked)
}

// A section of docs/design.md named in a comment exists there: `(docs/
// design.md, "Release")` or `"Release" in docs/design.md`.
func TestDesignSectionsResolve(t *testing.T) {
	root := workspace(t)
	design, err := os.ReadFile(filepath.Join(root, "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(design), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			headings[h] = true
		}
	}
	refs := regexp.MustCompile(`docs/design\.md,\s*"([^"]+)"|"([^"]+)"\)? in docs/design\.md|docs/design\.md \("([^"]+)"\)`)
	continuation := regexp.MustCompile(`\n\s*(//|#)\s*`)
	sources(t, root, func(rel string) {
		switch filepath.Ext(rel) {
		case ".go", ".bzl", ".bazel", ".toml", ".sh":
		default:
			return
		}
		b, _ := os.ReadFile(filepath.Join(root, rel))
		text := continuation.ReplaceAllString(string(b), " ")
		for _, m := range refs.FindAllStringSubmatch(text, -1) {
			name := m[1] + m[2] + m[3]
			if !headings[name] {
				t.Errorf("%s names section %q of docs/design.md, which has no such heading", rel, name)
			}
		}
	})
}

// The publisher depends on no build tool: release/ never imports tools/.
func TestReleaseDoesNotImportTools(t *testing.T) {
	root := workspace(t)
	sources(t, root, func(rel string) {
		if !strings.HasPrefix(rel, "release/") || !strings.HasSuffix(rel, ".go") {
			return
		}
		b, _ := os.ReadFile(filepath.Join(root, rel))
		if strings.Contains(string(b), `"github.com/bty-lab/bty/tools/`) {
			t.Errorf("%s imports a package of tools/; move what both need to internal/", rel)
		}
	})
}
