// Command verify runs one test executable the way `bazel test` would (its
// runfiles, TEST_SRCDIR, TEST_TMPDIR, its environment) inside a Bazel build
// action and writes its result as JSON. With -report it merges results and
// the sha256 of every release artifact into the verification report.
//
// Bazel has no "run after tests pass" edge: running tests as actions makes
// their success an input of whatever depends on the report, cached like any
// other action, and a failing test fails the build of the report.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Result is one test's outcome.
type Result struct {
	Label    string  `json:"label"`
	Passed   bool    `json:"passed"`
	Seconds  float64 `json:"seconds"`
	ExitCode int     `json:"exit_code"`
}

// Artifact is one release file and its digest.
type Artifact struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Report is what //release:publish checks before publishing anything.
type Report struct {
	Tests     []Result   `json:"tests"`
	Artifacts []Artifact `json:"artifacts"`
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var envs, results, artifacts list
	label := flag.String("label", "", "the test's label")
	exe := flag.String("test", "", "the test executable")
	pkg := flag.String("package", "", "the test's package (its working directory in the runfiles)")
	out := flag.String("out", "", "output file")
	report := flag.Bool("report", false, "merge -result files and -artifact digests into a report")
	flag.Var(&envs, "env", "KEY=VALUE for the test (repeatable)")
	flag.Var(&results, "result", "a result file (with -report)")
	flag.Var(&artifacts, "artifact", "a release artifact (with -report)")
	flag.Parse()
	var err error
	if *report {
		err = writeReport(*out, results, artifacts)
	} else {
		err = runTest(*out, *label, *exe, *pkg, envs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		os.Exit(1)
	}
}

func runTest(out, label, exe, pkg string, envs []string) error {
	abs, err := filepath.Abs(exe)
	if err != nil {
		return err
	}
	runfiles := abs + ".runfiles"
	tmp, err := os.MkdirTemp("", "verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(abs)
	cmd.Dir = filepath.Join(runfiles, "_main", pkg)
	cmd.Env = append(os.Environ(),
		"TEST_SRCDIR="+runfiles, "RUNFILES_DIR="+runfiles, "TEST_WORKSPACE=_main",
		"TEST_TMPDIR="+tmp, "TEST_TARGET="+label, "HOME="+tmp, "CI=1",
		// Actions start with an empty environment; tests get the PATH
		// `bazel test` gives them under --incompatible_strict_action_env.
		"PATH=/bin:/usr/bin:/usr/local/bin")
	cmd.Env = append(cmd.Env, envs...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err = cmd.Run()
	r := Result{Label: label, Passed: err == nil, Seconds: time.Since(start).Seconds()}
	if cmd.ProcessState != nil {
		r.ExitCode = cmd.ProcessState.ExitCode()
	}
	if !r.Passed {
		s := log.String()
		fmt.Fprintf(os.Stderr, "%s FAILED (%v):\n%s\n", label, err, s[max(0, len(s)-8000):])
		return fmt.Errorf("%s failed; the release cannot be verified", label)
	}
	b, _ := json.Marshal(r)
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

func digest(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return Artifact{Name: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

func writeReport(out string, results, artifacts []string) error {
	rep := Report{Tests: []Result{}, Artifacts: []Artifact{}}
	for _, p := range results {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !r.Passed {
			return fmt.Errorf("%s did not pass", r.Label)
		}
		rep.Tests = append(rep.Tests, r)
	}
	for _, p := range artifacts {
		a, err := digest(p)
		if err != nil {
			return err
		}
		rep.Artifacts = append(rep.Artifacts, a)
	}
	sort.Slice(rep.Tests, func(i, j int) bool { return rep.Tests[i].Label < rep.Tests[j].Label })
	sort.Slice(rep.Artifacts, func(i, j int) bool { return rep.Artifacts[i].Name < rep.Artifacts[j].Name })
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
