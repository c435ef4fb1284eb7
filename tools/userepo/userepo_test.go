package userepo

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRepoName(t *testing.T) {
	// Names as gazelle's go_deps creates them (seen in its generated repos).
	for path, want := range map[string]string{
		"github.com/BurntSushi/toml":             "com_github_burntsushi_toml",
		"golang.org/x/tools":                     "org_golang_x_tools",
		"github.com/pin/tftp/v3":                 "com_github_pin_tftp_v3",
		"github.com/google/go-containerregistry": "com_github_google_go_containerregistry",
		"modernc.org/sqlite":                     "org_modernc_sqlite",
		"golang.org/x/sys":                       "org_golang_x_sys",
		"codeberg.org/go-pdf/fpdf":               "org_codeberg_go_pdf_fpdf",
		"gopkg.in/yaml.v3":                       "in_gopkg_yaml_v3",
		"github.com/bazelbuild/rules_go":         "com_github_bazelbuild_rules_go",
	} {
		if got := RepoName(path); got != want {
			t.Errorf("RepoName(%q) = %q, want %q", path, got, want)
		}
	}
}

const goMod = `module example.com/m

go 1.26.0

require (
	github.com/bazelbuild/rules_go v0.59.0
	github.com/spf13/cobra v1.10.2
	golang.org/x/tools v0.52.0
)

require github.com/spf13/pflag v1.0.9 // indirect

require github.com/rhysd/actionlint v1.7.12 // indirect

tool github.com/rhysd/actionlint/cmd/actionlint
`

// rules_go is a bazel_dep: go_deps makes no repository for it, so it is
// not listed (a use_repo of it fails every build).
func TestRewrite(t *testing.T) {
	in := `go_deps = use_extension("@bazel_gazelle//:extensions.bzl", "go_deps")
go_deps.from_file(go_mod = "//:go.mod")
use_repo(go_deps, "org_golang_x_tools", "stale_repo")

use_repo(other, "keep_me")
`
	want := `go_deps = use_extension("@bazel_gazelle//:extensions.bzl", "go_deps")
go_deps.from_file(go_mod = "//:go.mod")
use_repo(
    go_deps,
    "com_github_rhysd_actionlint",
    "com_github_spf13_cobra",
    "org_golang_x_tools",
)

use_repo(other, "keep_me")
`
	got, err := Rewrite([]byte(in), []byte(goMod))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Rewrite (-want +got):\n%s", diff)
	}
	again, err := Rewrite(got, []byte(goMod))
	if err != nil || string(again) != string(got) {
		t.Errorf("Rewrite is not idempotent: %v\n%s", err, again)
	}
}

func TestRewriteAddsMissingCall(t *testing.T) {
	got, err := Rewrite([]byte("module(name = \"m\")\n"), []byte(goMod))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"com_github_spf13_cobra",`) {
		t.Errorf("no use_repo added:\n%s", got)
	}
}

func TestBadGoMod(t *testing.T) {
	if _, err := Rewrite([]byte(""), []byte("require (")); err == nil || !strings.Contains(err.Error(), "go.mod") {
		t.Errorf("Rewrite with a broken go.mod: %v, want an error naming go.mod", err)
	}
}
