package spdx

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const gomod = `module example.com/main

go 1.26.0

toolchain go1.26.8

require (
	github.com/spf13/cobra v1.10.1
	github.com/bazelbuild/rules_go v0.59.0
)
`

const gosum = `github.com/spf13/cobra v1.10.1 h1:cobra=
github.com/spf13/cobra v1.10.1/go.mod h1:mod=
github.com/bazelbuild/rules_go v0.59.0 h1:rulesgo=
`

func TestModules(t *testing.T) {
	m, err := ParseModules([]byte(gomod), []byte(gosum))
	if err != nil {
		t.Fatal(err)
	}
	if m.Main != "example.com/main" || m.Toolchain != "go1.26.8" {
		t.Errorf("main %q toolchain %q", m.Main, m.Toolchain)
	}
	mods, err := m.ForRepos([]string{"", "gazelle~~go_deps~com_github_spf13_cobra", "rules_go~", "gazelle~~go_deps~com_github_spf13_cobra"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 2 || mods[0] != (Module{"github.com/spf13/cobra", "v1.10.1", "h1:cobra="}) || mods[1].Path != "github.com/bazelbuild/rules_go" {
		t.Errorf("modules %+v", mods)
	}
	if _, err := m.ForRepos([]string{"gazelle~~go_deps~com_example_unknown"}); err == nil || !strings.Contains(err.Error(), "com_example_unknown") {
		t.Errorf("an unknown repository: %v", err)
	}
	if _, err := ParseModules([]byte(gomod), []byte("github.com/spf13/cobra v1.10.1 h1:x=\n")); err == nil || !strings.Contains(err.Error(), "rules_go v0.59.0") {
		t.Errorf("a module without a hash: %v", err)
	}
}

func TestDocument(t *testing.T) {
	build := func() []byte {
		b := New("x.tar", strings.Repeat("a", 64), "1.2.3", "CONTAINER", "owner/repo", time.Unix(0, 0))
		mods := []Module{{"github.com/spf13/cobra", "v1.10.1", "h1:c="}}
		b.GoBinary("prog linux/amd64", "example.com/main", "1.2.3", "Apache-2.0", "go1.26.8", mods)
		b.GoBinary("prog linux/arm64", "example.com/main", "1.2.3", "Apache-2.0", "go1.26.8", mods)
		b.Debian(Deb{"ipxe", "2.0.0+dfsg-5", "all", "pool/main/i/ipxe/ipxe_2.0.0+dfsg-5_all.deb", strings.Repeat("b", 64), "GPL-2.0-or-later"})
		out, err := b.JSON()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := build()
	if !bytes.Equal(out, build()) {
		t.Error("two builds of the same document differ")
	}
	var d Document
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, p := range d.Packages {
		if ids[p.SPDXID] {
			t.Errorf("SPDXID %s twice", p.SPDXID)
		}
		ids[p.SPDXID] = true
	}
	// The module both programs link is one package with two DEPENDS_ON.
	if len(d.Packages) != 5 || d.CreationInfo.Created != "1970-01-01T00:00:00Z" || strings.Contains(d.DocumentNamespace, "#") {
		t.Errorf("document: %s", out)
	}
	deps := 0
	for _, r := range d.Relationships {
		if r.Type == "DEPENDS_ON" && r.Related == "SPDXRef-gomod-github.com-spf13-cobra-v1.10.1" {
			deps++
		}
	}
	if deps != 2 {
		t.Errorf("%d DEPENDS_ON the shared module, want 2", deps)
	}
	for _, want := range []string{`"pkg:deb/debian/ipxe@2.0.0+dfsg-5?arch=all"`, `"licenseDeclared": "GPL-2.0-or-later"`, `"pkg:golang/github.com/spf13/cobra@v1.10.1"`, `"go.sum h1:c="`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("document lacks %s", want)
		}
	}
}

func TestOCILayers(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	put("index.json", `{"manifests":[{"digest":"sha256:idx"}]}`)
	put("blobs/sha256/idx", `{"manifests":[{"digest":"sha256:m1","platform":{"os":"linux","architecture":"amd64"}},{"digest":"sha256:m2","platform":{"os":"linux","architecture":"arm64"}}]}`)
	put("blobs/sha256/m1", `{"layers":[{"digest":"sha256:l1","size":10}]}`)
	put("blobs/sha256/m2", `{"layers":[{"digest":"sha256:l2","size":20},{"digest":"sha256:l3","size":30}]}`)
	tw.Close()
	layers, err := OCILayers(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Layer{{"linux/amd64", "sha256:l1", 10}, {"linux/arm64", "sha256:l2", 20}, {"linux/arm64", "sha256:l3", 30}}
	if len(layers) != 3 || layers[0] != want[0] || layers[2] != want[2] {
		t.Errorf("layers %+v, want %+v", layers, want)
	}
	if _, err := OCILayers(strings.NewReader("")); err == nil {
		t.Error("an empty tarball gave no error")
	}
}
