package main

// The source distribution: what `pip install bty_lab-<ver>.tar.gz` builds
// the programs from on a platform without a wheel, with nothing but a Go
// toolchain and no network. It holds the sources of every Go package the
// wheels' programs are built from (taken from the Bazel build that links
// them, so it cannot hold less), the third-party ones vendored (vendor/,
// with the modules.txt the go command checks), a go.mod requiring exactly
// the vendored modules, the core metadata (PKG-INFO, the wheels' METADATA)
// and an in-tree PEP 517 build backend, bty_build.py, which needs no
// Python package either: pip's isolated build installs nothing.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
)

// manifestPackage is one Go package of the programs, as wheel.bzl lists it.
type manifestPackage struct {
	ImportPath string `json:"importpath"`
	Repo       string `json:"repo"` // "" for this repository
	Files      []struct {
		Path  string `json:"path"`  // to read
		Short string `json:"short"` // its path in its repository ("../<repo>/..." outside this one)
	} `json:"files"`
}

// goModule is a required module: its version and the go version of its
// own go.mod ("" when it names none), which the compiler's language
// version for its packages follows.
type goModule struct{ version, goVersion string }

func buildSdist(o options) error {
	if o.out == "" || o.name == "" || o.version == "" || o.gomod == "" || o.goModules == "" || o.manifest == "" || o.backend == "" || len(o.scripts) == 0 {
		return fmt.Errorf("-sdist needs -out, -name, -version, -gomod, -go-modules, -manifest, -backend and at least one -script")
	}
	dist := normalize(o.name) + "-" + o.version
	if base := path.Base(o.out); base != dist+".tar.gz" {
		return fmt.Errorf("output must be named %s.tar.gz, not %s", dist, base)
	}
	meta, err := metadata(o)
	if err != nil {
		return err
	}
	module, goVersion, required, err := readGoMod(o.gomod)
	if err != nil {
		return err
	}
	known, err := readGoModules(o.goModules)
	if err != nil {
		return err
	}
	var pkgs []manifestPackage
	b, err := os.ReadFile(o.manifest)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &pkgs); err != nil {
		return fmt.Errorf("%s: %w", o.manifest, err)
	}

	files := map[string]string{}             // name in the sdist -> file to read
	vendored := map[string]map[string]bool{} // module -> its packages
	for _, p := range pkgs {
		if p.Repo == "" {
			if p.ImportPath != module && !strings.HasPrefix(p.ImportPath, module+"/") {
				return fmt.Errorf("package %s is not in module %s", p.ImportPath, module)
			}
			for _, f := range p.Files {
				if err := add(files, f.Short, f.Path); err != nil {
					return err
				}
			}
			continue
		}
		mod, err := moduleOf(p)
		if err != nil {
			return err
		}
		if vendored[mod] == nil {
			vendored[mod] = map[string]bool{}
		}
		vendored[mod][p.ImportPath] = true
		for _, f := range p.Files {
			rel := strings.TrimPrefix(f.Short, "../"+p.Repo+"/")
			if err := add(files, "vendor/"+mod+"/"+rel, f.Path); err != nil {
				return err
			}
		}
	}

	mods := make([]string, 0, len(vendored))
	for m := range vendored {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	var gomod, modtxt strings.Builder
	fmt.Fprintf(&gomod, "module %s\n\ngo %s\n\nrequire (\n", module, goVersion)
	for _, m := range mods {
		v, ok := required[m]
		if !ok {
			return fmt.Errorf("the programs use module %s, which go.mod does not require", m)
		}
		k, ok := known[m]
		if !ok || k.version != v {
			return fmt.Errorf("%s %s has no line in %s; run tools/wheel/go-modules.sh", m, v, o.goModules)
		}
		fmt.Fprintf(&gomod, "\t%s %s\n", m, v)
		fmt.Fprintf(&modtxt, "# %s %s\n## explicit", m, v)
		if k.goVersion != "" {
			fmt.Fprintf(&modtxt, "; go %s", k.goVersion)
		}
		modtxt.WriteString("\n")
		ps := make([]string, 0, len(vendored[m]))
		for p := range vendored[m] {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		for _, p := range ps {
			modtxt.WriteString(p + "\n")
		}
	}
	gomod.WriteString(")\n")

	scripts := map[string]string{}
	for name, pkg := range o.scripts {
		scripts[name] = "./" + strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	}
	config, _ := json.MarshalIndent(map[string]any{"name": o.name, "version": o.version, "go": goVersion, "scripts": scripts}, "", "  ")
	backend, err := os.ReadFile(o.backend)
	if err != nil {
		return err
	}
	pyproject := fmt.Sprintf(`# Built by bty's tools/wheel: the programs are Go, built by bty_build.py
# (in this directory) with the go command from the vendored sources.
[build-system]
requires = []
build-backend = "bty_build"
backend-path = ["."]

[project]
name = %q
version = %q
description = %q
requires-python = %q
`, o.name, o.version, o.summary, o.requiresPython)

	contents := map[string][]byte{
		"PKG-INFO":                         []byte(meta),
		"pyproject.toml":                   []byte(pyproject),
		"bty_build.py":                     backend,
		"bty_build.json":                   append(config, '\n'),
		"go.mod":                           []byte(gomod.String()),
		"vendor/modules.txt":               []byte(modtxt.String()),
		normalize(o.name) + "/__init__.py": initPy(o),
	}
	for name, src := range files {
		if _, ok := contents[name]; ok {
			return fmt.Errorf("%s is both a Go source and a file the sdist writes", name)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		contents[name] = b
	}
	return writeTarGz(o.out, dist, contents)
}

// add records that the sdist holds src as name; a name given twice (a
// package of both platforms' programs) must be the same file.
func add(files map[string]string, name, src string) error {
	if name == "" || strings.HasPrefix(name, "../") || path.IsAbs(name) || path.Clean(name) != name {
		return fmt.Errorf("source %s would be %q in the sdist", src, name)
	}
	if old, ok := files[name]; ok && old != src {
		a, errA := os.ReadFile(old)
		b, errB := os.ReadFile(src)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("%s comes from both %s and %s", name, old, src)
		}
	}
	files[name] = src
	return nil
}

// moduleOf is the module of an external package: its import path without
// the package's directory inside its repository (the module's root).
func moduleOf(p manifestPackage) (string, error) {
	dir := ""
	for _, f := range p.Files {
		if strings.HasSuffix(f.Short, ".go") {
			dir = path.Dir(strings.TrimPrefix(f.Short, "../"+p.Repo+"/"))
			break
		}
	}
	switch {
	case dir == "":
		return "", fmt.Errorf("package %s has no Go file", p.ImportPath)
	case dir == ".":
		return p.ImportPath, nil
	case strings.HasSuffix(p.ImportPath, "/"+dir):
		return strings.TrimSuffix(p.ImportPath, "/"+dir), nil
	}
	return "", fmt.Errorf("package %s lives in %s of its repository %s: no module root", p.ImportPath, dir, p.Repo)
}

// readGoMod reads the module path, the go version and every requirement.
func readGoMod(file string) (module, goVersion string, required map[string]string, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", nil, err
	}
	required = map[string]string{}
	block := false
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "module" && len(f) == 2:
			module = f[1]
		case f[0] == "go" && len(f) == 2:
			goVersion = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			block = true
		case f[0] == ")":
			block = false
		case f[0] == "require" && len(f) == 3:
			required[f[1]] = f[2]
		case block && len(f) == 2:
			required[f[0]] = f[1]
		case f[0] == "replace" || f[0] == "exclude":
			return "", "", nil, fmt.Errorf("%s: %s directives are not carried into the sdist", file, f[0])
		}
	}
	if module == "" || goVersion == "" {
		return "", "", nil, fmt.Errorf("%s: no module or go line", file)
	}
	return module, goVersion, required, nil
}

// readGoModules reads go-modules.txt: "MODULE VERSION GO" lines, GO "-"
// for a module whose go.mod names no go version.
func readGoModules(file string) (map[string]goModule, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]goModule{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Fields(line)
		if len(p) != 3 {
			return nil, fmt.Errorf("%s:%d: want MODULE VERSION GO, got %q", file, n, line)
		}
		m := goModule{version: p[1], goVersion: p[2]}
		if m.goVersion == "-" {
			m.goVersion = ""
		}
		out[p[0]] = m
	}
	return out, sc.Err()
}

// writeTarGz writes contents under dir/ as a reproducible tar.gz: sorted
// names, the fixed time of epoch(), root-owned, mode 0644.
func writeTarGz(out, dir string, contents map[string][]byte) error {
	names := make([]string, 0, len(contents))
	for n := range contents {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	t := epoch()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: t, Format: tar.FormatPAX}); err != nil {
		return err
	}
	dirs := map[string]bool{}
	for _, n := range names {
		// Each directory once, before its files, as tar tools write them.
		var parents []string
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if d := parents[i]; !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/" + d + "/", Mode: 0o755, ModTime: t, Format: tar.FormatPAX}); err != nil {
					return err
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/" + n, Mode: 0o644, Size: int64(len(contents[n])), ModTime: t, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(contents[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
