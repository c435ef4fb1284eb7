// Package publish runs a release in its fixed order: (1) refuse a version
// PyPI has, (2) refuse bytes the verification report does not pin, then the
// remote writes: (3) the tag, (4) the GitHub release with every artifact,
// its .sha256 and release.toml, (5) the OCI indexes, (6) the wheels and the sdist to PyPI,
// strictly last.
//
// The writes are one list of typed steps (Steps). Each step describes
// itself and does itself, idempotently; the dry run prints the descriptions
// of exactly the steps a real run executes, from the same list, so the plan
// cannot drift from the release. A re-run after a failure completes what is
// missing and uploads nothing twice. Credentials come from the environment
// and are never printed.
package publish

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bty-lab/bty/internal/wheelcheck"
	"github.com/bty-lab/bty/release/github"
	"github.com/bty-lab/bty/release/gittag"
	"github.com/bty-lab/bty/release/ocipush"
	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/release/provenance"
	"github.com/bty-lab/bty/release/pypi"
	"github.com/bty-lab/bty/release/report"
	"github.com/bty-lab/bty/release/sign"
)

// Options describe one run.
type Options struct {
	Config  plan.Config
	Version string
	DryRun  bool
	// TagOnly runs the tag step alone (CI does it on each push to main, so
	// the tag starts the release workflow); it needs only GITHUB_TOKEN and
	// skips the PyPI check, which the tag's own run does first.
	TagOnly bool
	Report  string   // //:verify's report
	Files   []string // the artifacts to publish
	// Provenance is the release's provenance (bty-v<ver>.intoto.jsonl),
	// made from the report; it is published beside the artifacts once it
	// is found to agree with the report.
	Provenance string
	// Signer signs each published file (a sigstore bundle beside it);
	// SignErr says why there is none (a dry run plans the signatures
	// anyway, a real run refuses to start).
	Signer    sign.Signer
	SignErr   error
	Workspace string // the git checkout to tag
	Env       func(string) string
	Out       io.Writer
	HTTP      *http.Client
}

func (o Options) say(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }

// Phase is a release step's place in the order (3 tag ... 6 PyPI).
type Phase int

// The phases of the remote writes, in order.
const (
	PhaseTag    Phase = 3
	PhaseGitHub Phase = 4
	PhaseOCI    Phase = 5
	PhasePyPI   Phase = 6
)

// Step is one remote write of the release.
type Step struct {
	Phase Phase
	// Kind and Object name the write: "tag" v1.2.0, "asset" a file name,
	// "oci" an image reference, "wheel" and "sdist" a file name, "release" a tag.
	Kind, Object string
	// Detail says where it goes and what makes it a no-op on a re-run.
	Detail string
	do     func(ctx context.Context, log func(string, ...any)) error
}

// String is the step's description: what the dry run prints for it and a
// real run prints before doing it.
func (s Step) String() string { return fmt.Sprintf("%s %s: %s", s.Kind, s.Object, s.Detail) }

// Run performs (or, with DryRun, plans) the release.
func Run(ctx context.Context, o Options) error {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Minute}
	}
	c := o.Config
	// 1. Before anything else: PyPI must not have this version.
	if o.TagOnly {
		o.say("step 1: skipped (tag only; the release of the tag checks PyPI first)")
	} else if err := plan.CheckPyPI(ctx, c, o.Version, &http.Client{Timeout: 15 * time.Second}); err != nil {
		if errors.Is(err, plan.ErrPublished) || !o.DryRun {
			return err
		}
		o.say("step 1: %v\n        (dry run: continuing; a real run stops here)", err)
	} else {
		o.say("step 1: PyPI has no %s %s", c.PyPI.Project, o.Version)
	}
	// 2. Only the bytes //:verify tested.
	rep, err := report.Read(o.Report)
	if err != nil {
		return err
	}
	artifacts, err := rep.Check(o.Files)
	if err != nil {
		return err
	}
	o.say("step 2: %d tests passed against these %d artifacts:", len(rep.Tests), len(artifacts))
	for _, a := range artifacts {
		o.say("        %s  %10d  %s", a.SHA256, a.Size, a.Name)
	}
	if o.Provenance != "" {
		prov, err := checkProvenance(o.Provenance, o.Report)
		if err != nil {
			return err
		}
		o.say("        provenance %s: its %d subjects are the report's artifacts, and it carries the report", prov.Name, len(artifacts))
		artifacts = append(artifacts, prov)
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
	steps := Steps(o, tagger, artifacts, manifest)
	if o.TagOnly {
		steps = steps[:1] // the tag
	}
	if o.DryRun {
		o.say("release.toml:\n%s\nplan (steps 3-6, in order):", manifest)
		for i, s := range steps {
			o.say("  %2d. [step %d] %s", i+1, s.Phase, s)
		}
		o.say("dry run: nothing was written")
		return nil
	}
	// Every credential is checked before the first remote write, so a
	// missing one cannot leave a half-made release.
	need := []string{"GITHUB_TOKEN"}
	if !o.TagOnly && !c.Registry.Insecure {
		need = append(need, "BTY_REGISTRY_TOKEN")
	}
	for _, k := range need {
		if o.Env(k) == "" {
			return fmt.Errorf("%s is not set; nothing was written", k)
		}
	}
	if !o.TagOnly && o.SignErr != nil {
		return fmt.Errorf("%w; nothing was written", o.SignErr)
	}
	if !o.TagOnly && o.Env("PYPI_TOKEN") == "" && (o.Env(pypi.EnvOIDCURL) == "" || o.Env(pypi.EnvOIDCToken) == "") {
		return fmt.Errorf("PYPI_TOKEN is not set and %w; nothing was written", pypi.ErrNoOIDC)
	}
	log := func(f string, a ...any) { o.say("      "+f, a...) }
	for i, s := range steps {
		o.say("  %2d. [step %d] %s", i+1, s.Phase, s)
		if err := s.do(ctx, log); err != nil {
			return fmt.Errorf("step %d (%s %s): %w", s.Phase, s.Kind, s.Object, err)
		}
	}
	o.say("released v%s", o.Version)
	return nil
}

// signImage is the step that signs an index the release pushed and attests
// its SBOM, both as sigstore bundles beside it in the registry (OCI
// referrers); it is skipped when the index already has both, so a re-run
// adds nothing.
func signImage(o Options, a report.Artifact, base string, artifacts []report.Artifact, identity string) Step {
	sbom := ""
	for _, x := range artifacts {
		if x.Name == a.Name+".spdx.json" {
			sbom = x.Path
		}
	}
	c := o.Config
	reg := sign.Registry{Username: cmp.Or(o.Env("BTY_REGISTRY_USERNAME"), "bty"), Password: o.Env("BTY_REGISTRY_TOKEN"), Insecure: c.Registry.Insecure}
	return Step{PhaseOCI, "oci-sign", base + "@<digest of " + a.Name + ">",
		fmt.Sprintf("cosign signature and the SBOM %s.spdx.json as an spdxjson attestation (%s); skipped when the index has both", a.Name, identity),
		func(ctx context.Context, log func(string, ...any)) error {
			if sbom == "" {
				return fmt.Errorf("%s has no SBOM among the artifacts (%s.spdx.json)", a.Name, a.Name)
			}
			var digest v1.Hash
			if err := withIndex(a.Path, func(idx v1.ImageIndex) (err error) {
				digest, err = idx.Digest()
				return err
			}); err != nil {
				return err
			}
			ref := base + "@" + digest.String()
			n, err := ocipush.SigstoreReferrers(ctx, ref, reg.Insecure, authFor(o))
			if err != nil {
				return err
			}
			if n >= 2 {
				log("%s is signed and attested already; skipped", ref)
				return nil
			}
			if err := o.Signer.Image(ctx, ref, reg); err != nil {
				return err
			}
			if err := o.Signer.Attest(ctx, ref, sbom, reg); err != nil {
				return err
			}
			log("signed %s and attested its SBOM", ref)
			return nil
		}}
}

// withIndex opens the OCI index in the tarball at path for fn, in a
// temporary directory removed after.
func withIndex(path string, fn func(v1.ImageIndex) error) error {
	dir, err := os.MkdirTemp("", "bty-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	idx, err := ocipush.Open(path, dir)
	if err != nil {
		return err
	}
	return fn(idx)
}

// authFor is the registry login the release uses.
func authFor(o Options) authn.Authenticator {
	if tok := o.Env("BTY_REGISTRY_TOKEN"); tok != "" {
		return &authn.Basic{Username: cmp.Or(o.Env("BTY_REGISTRY_USERNAME"), "bty"), Password: tok}
	}
	return authn.Anonymous
}

// checkProvenance refuses a provenance that disagrees with the report, and
// returns it as an asset.
func checkProvenance(path, reportPath string) (report.Artifact, error) {
	st, err := os.ReadFile(path)
	if err != nil {
		return report.Artifact{}, err
	}
	rep, err := os.ReadFile(reportPath)
	if err != nil {
		return report.Artifact{}, err
	}
	if err := provenance.Check(st, rep); err != nil {
		return report.Artifact{}, fmt.Errorf("%s: %w; refusing to publish it", filepath.Base(path), err)
	}
	return report.Digest(path)
}

// Steps lists every remote write of the release, in order.
func Steps(o Options, tagger gittag.Tagger, artifacts []report.Artifact, manifest []byte) []Step {
	c := o.Config
	tag := "v" + o.Version
	var steps []Step

	steps = append(steps, Step{PhaseTag, "tag", tag, fmt.Sprintf("create it at HEAD if missing, push it to %s", c.GitHub.GitRemote),
		func(ctx context.Context, log func(string, ...any)) error { return tagger.Tag(ctx, tag, log) }})

	// The GitHub release, found or created once, then each asset.
	gh := &github.Client{API: c.GitHub.API, Uploads: c.GitHub.Uploads, Repo: c.GitHub.Repository, Token: o.Env("GITHUB_TOKEN"), HTTP: o.HTTP}
	var rel github.Release
	steps = append(steps, Step{PhaseGitHub, "release", tag, fmt.Sprintf("GitHub release of %s at %s (reused if it exists)", c.GitHub.Repository, c.GitHub.API),
		func(ctx context.Context, _ func(string, ...any)) (err error) {
			rel, err = gh.Ensure(ctx, tag)
			return err
		}})
	asset := func(name, what string, data func() ([]byte, error)) Step {
		return Step{PhaseGitHub, "asset", name, what + "; uploaded to the release unless present with the same digest",
			func(ctx context.Context, log func(string, ...any)) error {
				b, err := data()
				if err != nil {
					return err
				}
				return gh.Upload(ctx, rel, name, b, log)
			}}
	}
	// A signature differs each time it is made, so one is uploaded unless
	// the release has one of that name: any signature of these exact bytes
	// will do.
	identity := o.Signer.Identity()
	if o.SignErr != nil {
		identity = o.SignErr.Error()
	}
	signature := func(a report.Artifact) Step {
		name := plan.SignatureName(a.Name)
		return Step{PhaseGitHub, "asset", name, "its sigstore bundle, signed now (" + identity + "); uploaded unless the release has one of that name",
			func(ctx context.Context, log func(string, ...any)) error {
				if rel.Has(name) {
					log("release asset %s already present; skipped", name)
					return nil
				}
				b, err := o.Signer.Blob(ctx, a.Path)
				if err != nil {
					return err
				}
				return gh.Upload(ctx, rel, name, b, log)
			}}
	}
	for _, a := range artifacts {
		steps = append(steps,
			asset(a.Name, fmt.Sprintf("%d bytes, sha256 %s", a.Size, a.SHA256), func() ([]byte, error) { return os.ReadFile(a.Path) }),
			asset(a.Name+".sha256", "its digest line", func() ([]byte, error) { return []byte(a.SHA256 + "  " + a.Name + "\n"), nil }),
			signature(a))
	}
	steps = append(steps, asset("release.toml", "the manifest above", func() ([]byte, error) { return manifest, nil }))

	auth := authFor(o)
	for _, a := range artifacts {
		image, ok := strings.CutSuffix(a.Name, ".tar")
		if !ok {
			continue
		}
		base := c.Registry.Host + "/" + c.Registry.Namespace + "/" + image
		refs := []string{base + ":" + o.Version, base + ":latest"}
		steps = append(steps, Step{PhaseOCI, "oci", strings.Join(refs, " "),
			fmt.Sprintf("index from %s (sha256 %s): blobs, platform manifests, then the index; digest confirmed; skipped when present", a.Name, a.SHA256),
			func(ctx context.Context, log func(string, ...any)) error {
				return withIndex(a.Path, func(idx v1.ImageIndex) error {
					return ocipush.Push(ctx, idx, refs, auth, c.Registry.Insecure, log)
				})
			}})
		steps = append(steps, signImage(o, a, base, artifacts, identity))
	}

	// PyPI: PYPI_TOKEN, or else trusted publishing. The minted token lives
	// minutes, so it is minted at the first upload, not up front.
	py := &pypi.Client{Upload: c.PyPI.Upload, JSONAPI: c.PyPI.JSONAPI, Project: c.PyPI.Project, Token: o.Env("PYPI_TOKEN"), HTTP: o.HTTP}
	how := "with PYPI_TOKEN"
	if py.Token == "" {
		how = "with a token minted at " + c.PyPI.MintToken + " from the job's OIDC token (trusted publishing)"
	}
	for _, a := range artifacts {
		kind := "wheel"
		switch {
		case strings.HasSuffix(a.Name, ".whl"):
		case wheelcheck.IsSdist(a.Name):
			kind = "sdist"
		default:
			continue
		}
		steps = append(steps, Step{PhasePyPI, kind, a.Name, fmt.Sprintf("sha256 %s to %s %s, unless the index has it with the same hash", a.SHA256, c.PyPI.Upload, how),
			func(ctx context.Context, log func(string, ...any)) error {
				if py.Token == "" {
					tok, err := pypi.MintToken(ctx, o.HTTP, c.PyPI.MintToken, o.Env)
					if err != nil {
						return err
					}
					py.Token = tok
					log("minted a PyPI upload token by trusted publishing")
				}
				return py.UploadWheel(ctx, o.Version, a.Path, log)
			}})
	}
	return steps
}
