// The release's SBOMs as built: every one is valid SPDX 2.3 for Debian's
// validator (pyspdxtools), describes its artifact's exact bytes, and names
// every Go module each program it holds carries. Bazel's Go binaries have
// no module build info (go version -m prints only the Go version), so what
// a binary carries is read from its own function table: every package
// linked in, mapped to its module by go.mod.
package main_test

import (
	"crypto/sha256"
	"debug/elf"
	"debug/gosym"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/sbom/spdx"
)

const target = "//tools/sbom:sbom_test"

func sboms(t *testing.T) map[string]spdx.Document {
	docs := map[string]spdx.Document{}
	for _, p := range testenv.Runfiles(t, "BTY_SBOMS", target) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d spdx.Document
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		docs[p] = d
	}
	if len(docs) == 0 {
		t.Fatal("no SBOMs")
	}
	return docs
}

func TestValidSPDX(t *testing.T) {
	validator := testenv.Tool(t, "pyspdxtools", "python3-spdx-tools")
	for p := range sboms(t) {
		if out, err := exec.Command(validator, "-i", p).CombinedOutput(); err != nil {
			t.Errorf("pyspdxtools finds %s invalid: %v\n%s", filepath.Base(p), err, out)
		}
	}
}

// Each SBOM describes its artifact: same name (plus .spdx.json), same
// sha256.
func TestDescribesTheArtifact(t *testing.T) {
	artifacts := map[string]string{}
	for _, p := range testenv.Runfiles(t, "BTY_ARTIFACTS", target) {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			artifacts[filepath.Base(p)] = p
		}
	}
	for p, d := range sboms(t) {
		name := strings.TrimSuffix(filepath.Base(p), ".spdx.json")
		art, ok := artifacts[name]
		if !ok {
			t.Errorf("%s describes %s, which is no release artifact", filepath.Base(p), name)
			continue
		}
		b, _ := os.ReadFile(art)
		sum := sha256.Sum256(b)
		root := d.Packages[0]
		if d.DocumentDescribes[0] != root.SPDXID || root.Name != name || root.Checksums[0].ChecksumValue != hex.EncodeToString(sum[:]) {
			t.Errorf("%s does not describe %s with its sha256: %+v", filepath.Base(p), name, root)
		}
		delete(artifacts, name)
	}
	for name := range artifacts {
		t.Errorf("release artifact %s has no SBOM", name)
	}
}

// modulesIn returns the modules whose packages the Go binary at path links,
// from its function table.
func modulesIn(t *testing.T, path string, requires []string) []string {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcln, err := f.Section(".gopclntab").Data()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, f.Section(".text").Addr))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var mods []string
	for _, fn := range table.Funcs {
		pkg := fn.PackageName()
		best := ""
		for _, m := range requires {
			if (pkg == m || strings.HasPrefix(pkg, m+"/")) && len(m) > len(best) {
				best = m
			}
		}
		if best != "" && !slices.Contains(mods, best) {
			mods = append(mods, best)
		}
	}
	return mods
}

// Every module a program carries is in the SBOMs that hold it.
func TestEveryModuleOfEveryProgram(t *testing.T) {
	b, err := os.ReadFile(testenv.Runfile(t, "BTY_GO_MOD", target))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	var requires []string
	for _, r := range mf.Require {
		requires = append(requires, r.Mod.Path)
	}
	docs := sboms(t)
	checked := 0
	for _, bin := range testenv.Runfiles(t, "BTY_PROGRAMS", target) {
		// dist's cross-built programs: bty_web_linux_arm64 is "bty-web linux/arm64".
		base := filepath.Base(bin)
		i := strings.Index(base, "_linux_")
		if i < 0 {
			continue
		}
		name := strings.ReplaceAll(base[:i], "_", "-") + " linux/" + base[i+len("_linux_"):]
		carried := modulesIn(t, bin, requires)
		if len(carried) == 0 {
			t.Fatalf("%s: no module found in its function table", base)
		}
		for p, d := range docs {
			var id string
			for _, pkg := range d.Packages {
				if pkg.Name == name {
					id = pkg.SPDXID
				}
			}
			if id == "" {
				continue
			}
			checked++
			listed := map[string]bool{}
			for _, r := range d.Relationships {
				if r.Element == id && r.Type == "DEPENDS_ON" {
					for _, pkg := range d.Packages {
						if pkg.SPDXID == r.Related {
							listed[pkg.Name] = true
						}
					}
				}
			}
			for _, m := range carried {
				if !listed[m] {
					t.Errorf("%s: %s carries %s, which the SBOM does not name", filepath.Base(p), name, m)
				}
			}
		}
	}
	if checked < 6 {
		t.Errorf("checked only %d program entries of the SBOMs", checked)
	}
}
