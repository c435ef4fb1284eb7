// Command userepo rewrites MODULE.bazel's use_repo(go_deps, ...) from go.mod
// (see package tools/userepo). It runs as part of `tools/bazel run //:tidy`.
//
// Usage: userepo [-check] DIR, where DIR holds MODULE.bazel and go.mod.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bty-lab/bty/tools/userepo"
)

func main() {
	check := flag.Bool("check", false, "only report whether MODULE.bazel is up to date (exit 1 if not)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: userepo [-check] DIR")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *check); err != nil {
		fmt.Fprintln(os.Stderr, "userepo:", err)
		os.Exit(1)
	}
}

func run(dir string, check bool) error {
	path := filepath.Join(dir, "MODULE.bazel")
	module, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	out, err := userepo.Rewrite(module, goMod)
	if err != nil {
		return err
	}
	if bytes.Equal(out, module) {
		return nil
	}
	if check {
		return fmt.Errorf("%s: use_repo(go_deps, ...) does not match go.mod; fix: tools/bazel run //:tidy", path)
	}
	// Write beside, then rename: a crash never leaves a half-written MODULE.bazel.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
