// Package publish runs a release in the spec's order, each step idempotent:
// (1) refuse a version PyPI has, (2) refuse bytes the verification report
// does not pin, (3) tag, (4) GitHub release with every artifact, its .sha256
// and release.toml, (5) OCI indexes, (6) wheels to PyPI, strictly last. A
// re-run after a failure completes what is missing and uploads nothing
// twice. Credentials come from the environment and are never printed.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/bty-lab/bty/release/github"
	"github.com/bty-lab/bty/release/gittag"
	"github.com/bty-lab/bty/release/ocipush"
	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/release/pypi"
)

// Options describe one run.
type Options struct {
	Config    plan.Config
	Version   string
	DryRun    bool
	Report    string   // //:verify's report
	Files     []string // the artifacts to publish
	Workspace string   // the git checkout to tag
	Env       func(string) string
	Out       io.Writer
	HTTP      *http.Client
}

func (o Options) say(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }

// Run performs (or, with DryRun, plans) the release.
func Run(ctx context.Context, o Options) error {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Minute}
	}
	c := o.Config
	// 1. Before anything else: PyPI must not have this version.
	if err := plan.CheckPyPI(ctx, c, o.Version, &http.Client{Timeout: 15 * time.Second}); err != nil {
		if errors.Is(err, plan.ErrPublished) || !o.DryRun {
			return err
		}
		o.say("step 1: %v\n        (dry run: continuing; a real run stops here)", err)
	} else {
		o.say("step 1: PyPI has no %s %s", c.PyPI.Project, o.Version)
	}
	// 2. Only the bytes //:verify tested.
	rep, err := plan.LoadReport(o.Report)
	if err != nil {
		return err
	}
	artifacts, err := plan.Check(rep, o.Files)
	if err != nil {
		return err
	}
	o.say("step 2: %d tests passed against these %d artifacts:", len(rep.Tests), len(artifacts))
	for _, a := range artifacts {
		o.say("        %s  %10d  %s", a.SHA256, a.Size, a.Name)
	}
	// release.toml's time is the released commit's, so every run of one
	// release renders the same bytes (an asset is never replaced).
	tagger := gittag.Tagger{Dir: o.Workspace, Remote: c.GitHub.GitRemote, Token: o.Env("GITHUB_TOKEN")}
	released, err := tagger.CommitTime(ctx)
	if err != nil {
		return err
	}
	manifest, err := plan.Manifest(o.Version, released, artifacts)
	if err != nil {
		return err
	}
	if o.DryRun {
		o.say("release.toml:\n%s\nplan (steps 3-6, in order):", manifest)
		for i, step := range plan.Plan(c, o.Version, artifacts) {
			o.say("  %2d. %s", i+1, step)
		}
		o.say("dry run: nothing was written")
		return nil
	}
	// Every credential is checked before the first remote write, so a
	// missing one cannot leave a half-made release.
	need := map[string]string{"GITHUB_TOKEN": o.Env("GITHUB_TOKEN"), "PYPI_TOKEN": o.Env("PYPI_TOKEN")}
	if !c.Registry.Insecure {
		need["BTY_REGISTRY_TOKEN"] = o.Env("BTY_REGISTRY_TOKEN")
	}
	for k, v := range need {
		if v == "" {
			return fmt.Errorf("%s is not set; nothing was written", k)
		}
	}
	tag := "v" + o.Version
	log := func(f string, a ...any) { o.say("  "+f, a...) }

	o.say("step 3: tag %s", tag)
	if err := tagger.Tag(ctx, tag, log); err != nil {
		return fmt.Errorf("step 3: %w", err)
	}

	o.say("step 4: GitHub release %s", tag)
	gh := &github.Client{API: c.GitHub.API, Uploads: c.GitHub.Uploads, Repo: c.GitHub.Repository, Token: o.Env("GITHUB_TOKEN"), HTTP: o.HTTP}
	rel, err := gh.Ensure(ctx, tag)
	if err != nil {
		return fmt.Errorf("step 4: %w", err)
	}
	for _, a := range artifacts {
		data, err := os.ReadFile(a.Path)
		if err != nil {
			return err
		}
		if err := gh.Upload(ctx, rel, a.Name, data, log); err != nil {
			return fmt.Errorf("step 4: %w", err)
		}
		if err := gh.Upload(ctx, rel, a.Name+".sha256", []byte(a.SHA256+"  "+a.Name+"\n"), log); err != nil {
			return fmt.Errorf("step 4: %w", err)
		}
	}
	if err := gh.Upload(ctx, rel, "release.toml", manifest, log); err != nil {
		return fmt.Errorf("step 4: %w", err)
	}

	o.say("step 5: OCI indexes to %s/%s", c.Registry.Host, c.Registry.Namespace)
	var auth authn.Authenticator = authn.Anonymous
	if tok := o.Env("BTY_REGISTRY_TOKEN"); tok != "" {
		auth = &authn.Basic{Username: firstNonEmpty(o.Env("BTY_REGISTRY_USERNAME"), "bty"), Password: tok}
	}
	for _, a := range artifacts {
		image, ok := strings.CutSuffix(a.Name, ".tar")
		if !ok {
			continue
		}
		dir, err := os.MkdirTemp("", "bty-oci-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		idx, err := ocipush.Open(a.Path, dir)
		if err != nil {
			return fmt.Errorf("step 5: %w", err)
		}
		base := c.Registry.Host + "/" + c.Registry.Namespace + "/" + image
		if err := ocipush.Push(ctx, idx, []string{base + ":" + o.Version, base + ":latest"}, auth, c.Registry.Insecure, log); err != nil {
			return fmt.Errorf("step 5: %w", err)
		}
	}

	o.say("step 6: wheels to PyPI")
	var wheels []string
	for _, a := range artifacts {
		if strings.HasSuffix(a.Name, ".whl") {
			wheels = append(wheels, a.Path)
		}
	}
	py := &pypi.Client{Upload: c.PyPI.Upload, JSONAPI: c.PyPI.JSONAPI, Project: c.PyPI.Project, Token: o.Env("PYPI_TOKEN"), HTTP: o.HTTP}
	if err := py.UploadAll(ctx, o.Version, wheels, log); err != nil {
		return fmt.Errorf("step 6: %w", err)
	}
	o.say("released %s", tag)
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
