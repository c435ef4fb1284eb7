package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/release/report"
)

// script makes a test executable (with its runfiles dir, as Bazel lays it
// out) that exits with code.
func script(t *testing.T, code string) string {
	dir := t.TempDir()
	exe := filepath.Join(dir, "fake_test")
	os.WriteFile(exe, []byte("#!/bin/sh\necho running in \"$PWD\" with TEST_TARGET=$TEST_TARGET\nexit "+code+"\n"), 0o755)
	os.MkdirAll(filepath.Join(exe+".runfiles", "_main", "pkg"), 0o755)
	return exe
}

func TestAFailingTestFailsTheAction(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	err := runTest(out, "//pkg:fake_test", script(t, "3"), "pkg", nil)
	if err == nil || !strings.Contains(err.Error(), "//pkg:fake_test failed") {
		t.Fatalf("err = %v, want the failure", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a result was written for a failed test")
	}
}

func TestReportPinsEveryArtifact(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.json")
	if err := runTest(ok, "//pkg:fake_test", script(t, "0"), "pkg", []string{"X=1"}); err != nil {
		t.Fatal(err)
	}
	var arts []string
	for name, content := range map[string]string{"a.iso": "iso bytes", "b.whl": "wheel bytes"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		arts = append(arts, p)
	}
	out := filepath.Join(dir, "verify.json")
	if err := writeReport(out, []string{ok}, arts); err != nil {
		t.Fatal(err)
	}
	rep, err := report.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tests) != 1 || rep.Tests[0].Label != "//pkg:fake_test" {
		t.Errorf("tests = %+v", rep.Tests)
	}
	if _, err := rep.Check(arts); err != nil || len(rep.Artifacts) != 2 {
		t.Errorf("the report does not pin every artifact: %v (%+v)", err, rep.Artifacts)
	}

	// A missing artifact fails the report.
	if err := writeReport(out, []string{ok}, append(arts, filepath.Join(dir, "missing.efi"))); err == nil || !strings.Contains(err.Error(), "missing.efi") {
		t.Errorf("missing artifact: err = %v", err)
	}
}
