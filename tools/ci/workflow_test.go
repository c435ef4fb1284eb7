// Package ci checks .github/workflows/ci.yml: actionlint (built from its Go
// module) finds nothing, and the workflow keeps the invariants a release
// depends on: publishing only from tags and only after the suite, fork pull
// requests never writing the cache, least permissions per job, one publish
// of a tag at a time, the guide to GitHub Pages only from a published tag.
package ci

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bty-lab/bty/internal/testenv"
)

type step struct {
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	Env  map[string]string `yaml:"env"`
	With map[string]any    `yaml:"with"`
}

type job struct {
	Needs       any               `yaml:"needs"`
	If          string            `yaml:"if"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress bool   `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
	Environment string `yaml:"environment"`
	Steps       []step `yaml:"steps"`
}

type workflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]job    `yaml:"jobs"`
}

func load(t *testing.T) (string, workflow) {
	t.Helper()
	path := testenv.Runfile(t, "BTY_WORKFLOW", "//tools/ci:ci_test")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return path, w
}

func TestActionlint(t *testing.T) {
	path, _ := load(t)
	actionlint := testenv.Runfile(t, "BTY_ACTIONLINT", "//tools/ci:ci_test")
	// actionlint checks the run: scripts with shellcheck when it finds one.
	shellcheck := testenv.Tool(t, "shellcheck", "shellcheck")
	out, err := exec.Command(actionlint, "-shellcheck", shellcheck, "-no-color", path).CombinedOutput()
	if err != nil {
		t.Errorf("actionlint found problems in %s:\n%s", path, out)
	}
}

func (j job) runs() string {
	var b strings.Builder
	for _, s := range j.Steps {
		b.WriteString(s.Run + "\n")
	}
	return b.String()
}

func (j job) needs(name string) bool {
	switch n := j.Needs.(type) {
	case string:
		return n == name
	case []any:
		return slices.Contains(n, any(name))
	}
	return false
}

func TestInvariants(t *testing.T) {
	_, w := load(t)
	for _, trigger := range []string{"pull_request", "push", "workflow_dispatch"} {
		if _, ok := w.On[trigger]; !ok {
			t.Errorf("no %s trigger", trigger)
		}
	}
	if len(w.Permissions) != 1 || w.Permissions["contents"] != "read" {
		t.Errorf("default permissions %v, want contents: read only", w.Permissions)
	}
	test, ok := w.Jobs["test"]
	if !ok || !strings.Contains(test.runs(), ".ci/run") {
		t.Fatal("no test job running .ci/run")
	}
	for name, j := range w.Jobs {
		writes := []string{}
		for scope, level := range j.Permissions {
			if level == "write" {
				writes = append(writes, scope)
			}
		}
		slices.Sort(writes)
		publishes := strings.Contains(j.runs(), "//release:publish")
		pages := slices.ContainsFunc(j.Steps, func(s step) bool { return strings.HasPrefix(s.Uses, "actions/deploy-pages@") })
		switch {
		case pages:
			// The guide goes to GitHub Pages from a tag, after the release.
			if !slices.Equal(writes, []string{"id-token", "pages"}) {
				t.Errorf("pages job %s may write %v, want id-token, pages", name, writes)
			}
			if !strings.Contains(j.If, "refs/tags/v") || !j.needs("publish") {
				t.Errorf("pages job %s runs %q after %v; want v* tags, after publish", name, j.If, j.Needs)
			}
			if !strings.Contains(j.runs(), "//docs:html") {
				t.Errorf("pages job %s does not deploy //docs:html", name)
			}
		case !publishes && len(writes) > 0:
			t.Errorf("job %s publishes nothing but may write %v", name, writes)
		case strings.Contains(j.runs(), "--tag-only"):
			if !slices.Equal(writes, []string{"contents"}) {
				t.Errorf("tag job %s may write %v, want contents only", name, writes)
			}
			if !strings.Contains(j.If, "refs/heads/main") || !strings.Contains(j.If, "push") {
				t.Errorf("tag job %s runs %q, want pushes to main only", name, j.If)
			}
		case publishes:
			if !slices.Equal(writes, []string{"contents", "id-token", "packages"}) {
				t.Errorf("publish job %s may write %v, want contents, id-token, packages", name, writes)
			}
			if !strings.Contains(j.If, "refs/tags/v") {
				t.Errorf("publish job %s runs %q, want v* tags only", name, j.If)
			}
			if !strings.Contains(j.Concurrency.Group, "github.ref") || j.Concurrency.CancelInProgress {
				t.Errorf("publish job %s concurrency %+v: two publishes of a tag may overlap or be cut", name, j.Concurrency)
			}
			// PyPI by trusted publishing: no PyPI secret anywhere.
			for _, s := range j.Steps {
				if _, ok := s.Env["PYPI_TOKEN"]; ok {
					t.Errorf("publish job %s passes PYPI_TOKEN; PyPI uploads use trusted publishing", name)
				}
			}
		}
		if publishes && !j.needs("test") {
			t.Errorf("job %s publishes without needing the test job", name)
		}
		if name != "publish" && name != "pages" && j.Permissions["id-token"] == "write" {
			t.Errorf("job %s may mint OIDC tokens", name)
		}
	}
	// Fork pull requests read the cache and never write it.
	var readOnly string
	for _, s := range test.Steps {
		if v, ok := s.Env["BTY_REMOTE_CACHE_READ_ONLY"]; ok {
			readOnly = v
		}
	}
	if !strings.Contains(readOnly, "pull_request") || !strings.Contains(readOnly, "head.repo.full_name != github.repository") {
		t.Errorf("the test job's cache is not read-only for fork pull requests: BTY_REMOTE_CACHE_READ_ONLY = %q", readOnly)
	}
}
