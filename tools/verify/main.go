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
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bty-lab/bty/internal/flags"
	"github.com/bty-lab/bty/release/report"
)

func main() {
	var envs, results, artifacts flags.Strings
	label := flag.String("label", "", "the test's label")
	exe := flag.String("test", "", "the test executable")
	pkg := flag.String("package", "", "the test's package (its working directory in the runfiles)")
	out := flag.String("out", "", "output file")
	merge := flag.Bool("report", false, "merge -result files and -artifact digests into a report")
	flag.Var(&envs, "env", "KEY=VALUE for the test (repeatable)")
	flag.Var(&results, "result", "a result file (with -report)")
	flag.Var(&artifacts, "artifact", "a release artifact (with -report)")
	flag.Parse()
	var err error
	if *merge {
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
	r := report.Test{Label: label, Passed: err == nil, Seconds: time.Since(start).Seconds()}
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

func writeReport(out string, results, artifacts []string) error {
	var tests []report.Test
	for _, p := range results {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r report.Test
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		tests = append(tests, r)
	}
	rep, err := report.New(tests, artifacts)
	if err != nil {
		return err
	}
	return rep.Write(out)
}
