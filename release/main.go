// Command publish releases bty (docs/design.md, "Release"): `bazel run
// //release:publish -- --dry-run` builds every artifact, runs every test
// against them (//:verify), checks the exact bytes against the report and
// prints the release plan; without --dry-run it carries the plan out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bazelbuild/rules_go/go/runfiles"

	"github.com/bty-lab/bty/bty/version"
	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/release/publish"
	"github.com/bty-lab/bty/release/sign"
)

func main() {
	dryRun := flag.Bool("dry-run", false, "check everything and print the plan; write nothing remote")
	tagOnly := flag.Bool("tag-only", false, "create and push the tag v<version> if missing, nothing else (CI, on a push to main)")
	ver := flag.String("version", version.String(), "version to release")
	config := flag.String("config", "", "release config (default: release/config.toml)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dryRun, *tagOnly, *ver, *config); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		if errors.Is(err, plan.ErrPublished) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

// runfile resolves a runfiles path; an unresolvable one is returned as is,
// so the error that follows names it.
func runfile(rel string) string {
	if p, err := runfiles.Rlocation(rel); err == nil {
		return p
	}
	return rel
}

func run(ctx context.Context, dryRun, tagOnly bool, ver, configPath string) error {
	if configPath == "" {
		configPath = runfile(os.Getenv("BTY_RELEASE_CONFIG"))
	}
	cfg, err := plan.LoadConfig(configPath)
	if err != nil {
		return err
	}
	// The rule hands over the report and, beside it, the artifacts it pins.
	reportRel := os.Getenv("BTY_VERIFY_REPORT")
	report := runfile(reportRel)
	var files []string
	for _, rel := range strings.Fields(os.Getenv("BTY_VERIFY_FILES")) {
		if rel != reportRel {
			files = append(files, runfile(rel))
		}
	}
	workspace := os.Getenv("BUILD_WORKSPACE_DIRECTORY")
	if workspace == "" {
		workspace = "."
	}
	signer, signErr := sign.New(os.Getenv, os.Environ())
	return publish.Run(ctx, publish.Options{
		Signer: signer, SignErr: signErr,
		Config: cfg, Version: ver, DryRun: dryRun, TagOnly: tagOnly, Report: report, Files: files,
		Provenance: runfile(os.Getenv("BTY_PROVENANCE")),
		Workspace:  workspace, Env: os.Getenv, Out: os.Stdout,
	})
}
