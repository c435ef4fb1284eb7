// Command publish releases bty (spec: "Release"): `bazel run
// //release:publish -- --dry-run` builds every artifact, runs every test
// against them (//:verify), checks the exact bytes against the report and
// prints the release plan.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/version"
	"github.com/bty-lab/bty/release/plan"
)

func main() {
	dryRun := flag.Bool("dry-run", false, "check everything and print the plan; write nothing remote")
	ver := flag.String("version", version.String(), "version to release")
	flag.Parse()
	if err := run(*dryRun, *ver); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		if errors.Is(err, plan.ErrPublished) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

func runfile(rel string) string {
	for _, base := range []string{os.Getenv("RUNFILES_DIR"), os.Args[0] + ".runfiles"} {
		if p := filepath.Join(base, rel); base != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return rel
}

func run(dryRun bool, ver string) error {
	cfg, err := plan.LoadConfig(runfile(os.Getenv("BTY_RELEASE_CONFIG")))
	if err != nil {
		return err
	}
	// Step 1, before anything else: PyPI must not have this version.
	client := &http.Client{Timeout: 15 * time.Second}
	if err := plan.CheckPyPI(context.Background(), cfg, ver, client); err != nil {
		if errors.Is(err, plan.ErrPublished) || !dryRun {
			return err
		}
		fmt.Printf("step 1: %v\n        (dry run: continuing; a real run stops here)\n", err)
	} else {
		fmt.Printf("step 1: PyPI has no %s %s\n", cfg.PyPI.Project, ver)
	}
	// Step 2: the exact bytes to publish are the ones //:verify tested.
	var report string
	var files []string
	for _, rel := range strings.Fields(os.Getenv("BTY_VERIFY_FILES")) {
		if filepath.Base(rel) == "verify.json" {
			report = runfile(rel)
		} else {
			files = append(files, runfile(rel))
		}
	}
	rep, err := plan.LoadReport(report)
	if err != nil {
		return err
	}
	artifacts, err := plan.Check(rep, files)
	if err != nil {
		return err
	}
	fmt.Printf("step 2: %d tests passed against these %d artifacts:\n", len(rep.Tests), len(artifacts))
	for _, a := range artifacts {
		fmt.Printf("        %s  %10d  %s\n", a.SHA256, a.Size, a.Name)
	}
	manifest, err := plan.Manifest(ver, time.Now(), artifacts)
	if err != nil {
		return err
	}
	fmt.Printf("release.toml:\n%s\n", manifest)
	fmt.Println("plan (steps 3-6, in order):")
	for i, step := range plan.Plan(cfg, ver, artifacts) {
		fmt.Printf("  %2d. %s\n", i+1, step)
	}
	if dryRun {
		fmt.Println("dry run: nothing was written")
		return nil
	}
	return errors.New("the remote steps (tag, GitHub release, OCI push, PyPI upload) are not implemented yet; nothing was written. Use --dry-run")
}
