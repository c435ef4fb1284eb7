package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/release/fakes"
	"github.com/bty-lab/bty/release/github"
	"github.com/bty-lab/bty/release/ocipush"
	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/release/provenance"
	"github.com/bty-lab/bty/release/report"
	"github.com/bty-lab/bty/release/sign"
)

type world struct {
	gh       *fakes.GitHub
	index    *fakes.Index
	oidc     *fakes.OIDC
	mint     *fakes.Mint
	oidcURL  string
	registry string
	bare     string
	opts     Options
	out      *bytes.Buffer
	// cosign and the public half of the key the release is signed with.
	cosign, pub string
}

func artifacts(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, f := range testenv.Runfiles(t, "BTY_RELEASE_FILES", "//release/publish:publish_test") {
		if strings.HasSuffix(f, ".whl") || strings.HasSuffix(f, ".tar") || strings.HasSuffix(f, ".tar.gz") || strings.HasSuffix(f, ".efi") || strings.HasSuffix(f, ".spdx.json") {
			files = append(files, f)
		}
	}
	if len(files) < 3 {
		testenv.Require(t, "Bazel-built release artifacts", os.ErrNotExist)
	}
	return files
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// setup builds the world a release talks to: GitHub and PyPI fakes, Debian's
// registry, a bare git remote, and a verification report for the files.
func setup(t *testing.T, files []string) *world {
	t.Helper()
	testenv.Tool(t, "git", "git")
	w := &world{gh: &fakes.GitHub{Repo: "bty-lab/bty", Token: "gh-token", Releases: map[string]*github.Release{}}, index: fakes.NewIndex("pypi-token"), out: &bytes.Buffer{}}
	ghs, pys := httptest.NewServer(w.gh), httptest.NewServer(w.index)
	t.Cleanup(ghs.Close)
	t.Cleanup(pys.Close)
	w.oidc = &fakes.OIDC{RequestToken: "oidc-request-token", IDToken: "id-token-of-this-workflow"}
	w.mint = &fakes.Mint{Trusted: map[string]string{"id-token-of-this-workflow": "pypi-token"}}
	oidcs, mints := httptest.NewServer(w.oidc), httptest.NewServer(w.mint)
	t.Cleanup(oidcs.Close)
	t.Cleanup(mints.Close)
	w.oidcURL = oidcs.URL + "/token"
	w.registry = testenv.Registry(t)
	w.bare = filepath.Join(t.TempDir(), "origin.git")
	work := t.TempDir()
	git(t, work, "init", "-q", "--bare", w.bare)
	git(t, work, "init", "-q")
	git(t, work, "commit", "-q", "--allow-empty", "-m", "release")

	rep, err := report.New([]report.Test{{Label: "//x:y", Passed: true}}, files)
	if err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(t.TempDir(), "verify.json")
	if err := rep.Write(reportPath); err != nil {
		t.Fatal(err)
	}

	// The provenance the build makes from that report.
	raw, _ := os.ReadFile(reportPath)
	st, err := provenance.New(raw, provenance.Inputs{Repository: "bty-lab/bty", Version: "0.1.0", Commit: "c0ffee", BazelVersion: "7.7.1", Builder: "local"})
	if err != nil {
		t.Fatal(err)
	}
	provPath := filepath.Join(t.TempDir(), "bty-v0.1.0.intoto.jsonl")
	line, _ := st.JSONL()
	if err := os.WriteFile(provPath, line, 0o644); err != nil {
		t.Fatal(err)
	}

	var c plan.Config
	c.GitHub.API, c.GitHub.Uploads, c.GitHub.Repository, c.GitHub.GitRemote = ghs.URL, ghs.URL, "bty-lab/bty", w.bare
	c.Registry.Host, c.Registry.Namespace, c.Registry.Insecure = w.registry, "bty-lab", true
	c.PyPI.Project, c.PyPI.JSONAPI, c.PyPI.Upload, c.PyPI.MintToken = "bty-lab", pys.URL+"/pypi", pys.URL+"/legacy/", mints.URL+"/_/oidc/mint-token"
	// The release is signed with a key pair of the test's, by the stock
	// cosign.
	cosign := testenv.Tool(t, "cosign", "cosign")
	keys := t.TempDir()
	gen := exec.Command(cosign, "generate-key-pair")
	gen.Dir, gen.Env = keys, append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	w.cosign, w.pub = cosign, filepath.Join(keys, "cosign.pub")
	signer, err := sign.New(func(k string) string { return map[string]string{sign.EnvKey: filepath.Join(keys, "cosign.key")}[k] }, append(os.Environ(), "COSIGN_PASSWORD="))
	if err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"GITHUB_TOKEN": "gh-token", "PYPI_TOKEN": "pypi-token"}
	w.opts = Options{Config: c, Version: "0.1.0", Report: reportPath, Files: files, Provenance: provPath, Signer: signer, Workspace: work,
		Env: func(k string) string { return env[k] }, Out: w.out}
	return w
}

func (w *world) nothingWritten(t *testing.T) {
	t.Helper()
	if len(w.gh.Releases) != 0 || w.gh.Uploads != 0 || len(w.index.Uploads) != 0 {
		t.Errorf("something was written: %d releases, %d assets, %d wheels", len(w.gh.Releases), w.gh.Uploads, len(w.index.Uploads))
	}
	if tags := git(t, w.bare, "tag"); tags != "" {
		t.Errorf("tag pushed: %q", tags)
	}
}

// stepLines returns the step lines a run printed ("kind object: detail"),
// planned (dry run) or done (real run): both print each step's String.
func stepLines(out string) []string {
	var steps []string
	for _, line := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(line, "] "); ok && strings.Contains(line, ". [step ") {
			steps = append(steps, rest)
		}
	}
	return steps
}

// The dry run's plan is the release: a real run against the fakes executes
// exactly the planned steps, in order, and each one is the write the fakes
// see (issue 11: a separately written plan had drifted from the release).
func TestPlanIsTheRelease(t *testing.T) {
	files := artifacts(t)
	w := setup(t, files)
	dry := w.opts
	dry.DryRun = true
	if err := Run(context.Background(), dry); err != nil {
		t.Fatal(err)
	}
	planned := stepLines(w.out.String())
	w.nothingWritten(t)
	w.out.Reset()
	if err := Run(context.Background(), w.opts); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	done := stepLines(w.out.String())
	if diff := cmp.Diff(planned, done); diff != "" || len(planned) == 0 {
		t.Fatalf("the run's steps differ from the plan (-plan +run):\n%s", diff)
	}
	// Each step is the write that happened, in the same order.
	var gh, wheels []string
	for _, s := range planned {
		head, _, _ := strings.Cut(s, ": ")
		kind, object, _ := strings.Cut(head, " ")
		switch kind {
		case "release", "asset":
			gh = append(gh, head)
		case "wheel", "sdist":
			wheels = append(wheels, head)
		case "tag":
			if tags := git(t, w.bare, "tag"); tags != object {
				t.Errorf("planned tag %s, remote has %q", object, tags)
			}
		case "oci":
			for _, r := range strings.Fields(object) {
				ref, _ := name.ParseReference(r, name.Insecure)
				if _, err := remote.Index(ref); err != nil {
					t.Errorf("planned push of %s did not happen: %v", r, err)
				}
			}
		case "oci-sign":
			// The index is signed and its SBOM attested: the stock cosign
			// verifies both with the release's key.
			base, _, _ := strings.Cut(object, "@")
			ref, _ := name.ParseReference(base+":0.1.0", name.Insecure)
			desc, err := remote.Head(ref)
			if err != nil {
				t.Errorf("%s: %v", base, err)
				continue
			}
			signed := base + "@" + desc.Digest.String()
			for _, args := range [][]string{{"verify"}, {"verify-attestation", "--type", "spdxjson"}} {
				cmd := append(args, "--key", w.pub, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", signed)
				if out, err := exec.Command(w.cosign, cmd...).CombinedOutput(); err != nil {
					t.Errorf("cosign %s %s: %v\n%s", args[0], signed, err, out)
				}
			}
		default:
			t.Errorf("unknown step kind in %q", s)
		}
	}
	if !slices.Contains(gh, "asset bty-v0.1.0.intoto.jsonl") || !slices.Contains(gh, "asset bty-v0.1.0.intoto.jsonl.sigstore.json") {
		t.Errorf("the plan does not publish the provenance and its signature: %v", gh)
	}
	// Every published file's signature verifies with the stock cosign, and
	// not for another file.
	for i, f := range append(files, w.opts.Provenance) {
		bundle := filepath.Join(t.TempDir(), "b.sigstore.json")
		os.WriteFile(bundle, w.gh.Data[filepath.Base(f)+".sigstore.json"], 0o644)
		if out, err := exec.Command(w.cosign, "verify-blob", "--key", w.pub, "--bundle", bundle, "--insecure-ignore-tlog", f).CombinedOutput(); err != nil {
			t.Errorf("cosign verify-blob %s: %v\n%s", filepath.Base(f), err, out)
		}
		if i == 0 {
			if err := exec.Command(w.cosign, "verify-blob", "--key", w.pub, "--bundle", bundle, "--insecure-ignore-tlog", files[1]).Run(); err == nil {
				t.Errorf("%s's signature verifies %s", filepath.Base(f), filepath.Base(files[1]))
			}
		}
	}
	if diff := cmp.Diff(gh, w.gh.Writes); diff != "" {
		t.Errorf("GitHub writes differ from the plan (-plan +writes):\n%s", diff)
	}
	if diff := cmp.Diff(wheels, w.index.Writes); diff != "" || !slices.Contains(wheels, "sdist bty_lab-0.1.0.tar.gz") {
		t.Errorf("PyPI uploads differ from the plan (-plan +uploads):\n%s", diff)
	}
}

// A release that fails at its last step is completed by a re-run that
// uploads nothing twice.
func TestReleaseCompletesAfterFailure(t *testing.T) {
	files := artifacts(t)
	w := setup(t, files)
	var wheel string
	for _, f := range files {
		if strings.HasSuffix(f, ".whl") {
			wheel = filepath.Base(f)
		}
	}
	w.index.FailOn = wheel
	err := Run(context.Background(), w.opts)
	if err == nil || !strings.Contains(err.Error(), "step 6") {
		t.Fatalf("first run: %v, want a failure at step 6\n%s", err, w.out)
	}
	assets := w.gh.Uploads
	if want := 3*(len(files)+1) + 1; assets != want {
		t.Errorf("%d assets after the first run, want %d (files and the provenance, their .sha256 and .sigstore.json, release.toml)", assets, want)
	}
	if err := Run(context.Background(), w.opts); err != nil {
		t.Fatalf("second run: %v\n%s", err, w.out)
	}
	if w.gh.Uploads != assets || w.index.Uploads[wheel] != 1 {
		t.Errorf("re-run uploaded again: %d assets (was %d), %s uploaded %d times", w.gh.Uploads, assets, wheel, w.index.Uploads[wheel])
	}
	if tags := git(t, w.bare, "tag"); tags != "v0.1.0" {
		t.Errorf("remote tags %q", tags)
	}
	ref, _ := name.ParseReference(w.registry+"/bty-lab/bty-tftp:0.1.0", name.Insecure)
	if _, err := remote.Index(ref); err != nil {
		t.Errorf("the image was not pushed: %v", err)
	}
	// The second run found the index signed and attested, and added no
	// signature: still one signature and one attestation.
	desc, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ocipush.SigstoreReferrers(context.Background(), w.registry+"/bty-lab/bty-tftp@"+desc.Digest.String(), true, authn.Anonymous)
	if err != nil || n != 2 || !strings.Contains(w.out.String(), "signed and attested already; skipped") {
		t.Errorf("after two runs the index has %d sigstore referrers (%v), want 2, the second run skipping", n, err)
	}
	if strings.Contains(w.out.String(), "gh-token") || strings.Contains(w.out.String(), "pypi-token") {
		t.Error("a token was printed")
	}
}

// A version PyPI already has stops the release before anything is written.
func TestPublishedVersionWritesNothing(t *testing.T) {
	files := artifacts(t)
	w := setup(t, files)
	// Put the version on the index first, as an earlier release would have.
	other := setup(t, files)
	other.opts.Config.PyPI = w.opts.Config.PyPI
	var wheels []string
	for _, f := range files {
		if strings.HasSuffix(f, ".whl") {
			wheels = append(wheels, f)
		}
	}
	other.opts.Files, other.opts.DryRun = wheels, false
	if err := Run(context.Background(), other.opts); err != nil {
		t.Fatal(err)
	}
	before := len(w.index.Uploads)
	err := Run(context.Background(), w.opts)
	if !errors.Is(err, plan.ErrPublished) {
		t.Fatalf("err = %v, want ErrPublished", err)
	}
	if len(w.gh.Releases) != 0 || w.gh.Uploads != 0 || len(w.index.Uploads) != before || git(t, w.bare, "tag") != "" {
		t.Error("something was written for an already published version")
	}
}

// Bytes the report does not pin, or a missing credential, stop the release
// before any remote write.
func TestRefusalsWriteNothing(t *testing.T) {
	files := artifacts(t)
	w := setup(t, files)
	tampered := filepath.Join(t.TempDir(), filepath.Base(files[0]))
	b, _ := os.ReadFile(files[0])
	os.WriteFile(tampered, append(b, 0), 0o644)
	opts := w.opts
	opts.Files = append([]string{tampered}, files[1:]...)
	if err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "refusing to publish") {
		t.Errorf("tampered artifact: %v", err)
	}
	// A provenance that names another digest than the report.
	prov, _ := os.ReadFile(w.opts.Provenance)
	var rep report.Report
	raw, _ := os.ReadFile(w.opts.Report)
	json.Unmarshal(raw, &rep)
	bad := filepath.Join(t.TempDir(), "bty-v0.1.0.intoto.jsonl")
	os.WriteFile(bad, bytes.Replace(prov, []byte(rep.Artifacts[0].SHA256), []byte(strings.Repeat("0", 64)), 1), 0o644)
	opts = w.opts
	opts.Provenance = bad
	if err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "refusing to publish it") {
		t.Errorf("provenance for other bytes: %v", err)
	}
	opts = w.opts
	opts.SignErr = sign.ErrNoIdentity
	if err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "nothing to sign with") {
		t.Errorf("no signing identity: %v", err)
	}
	opts = w.opts
	opts.Env = func(string) string { return "" }
	if err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Errorf("missing credentials: %v", err)
	}
	w.nothingWritten(t)
}

// In GitHub Actions without PYPI_TOKEN, the wheels go up with a token
// minted from the job's OIDC token (trusted publishing), which never shows;
// an untrusted workflow stops at step 6, nothing uploaded to PyPI.
func TestTrustedPublishing(t *testing.T) {
	files := artifacts(t)
	w := setup(t, files)
	env := map[string]string{"GITHUB_TOKEN": "gh-token", "ACTIONS_ID_TOKEN_REQUEST_URL": w.oidcURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-request-token"}
	w.opts.Env = func(k string) string { return env[k] }
	w.oidc.IDToken = "id-token-of-another-workflow"
	err := Run(context.Background(), w.opts)
	if err == nil || !strings.Contains(err.Error(), "step 6") || !strings.Contains(err.Error(), "invalid-publisher") {
		t.Fatalf("untrusted workflow: %v\n%s", err, w.out)
	}
	if len(w.index.Uploads) != 0 {
		t.Errorf("wheels uploaded without a minted token: %v", w.index.Uploads)
	}
	w.oidc.IDToken = "id-token-of-this-workflow"
	if err := Run(context.Background(), w.opts); err != nil {
		t.Fatalf("trusted workflow: %v\n%s", err, w.out)
	}
	if len(w.index.Writes) == 0 || len(w.oidc.Audiences) == 0 || w.oidc.Audiences[0] != "pypi" {
		t.Errorf("wheels %v, OIDC audiences %v", w.index.Writes, w.oidc.Audiences)
	}
	for _, secret := range []string{"oidc-request-token", "id-token-of-this-workflow", "pypi-token", "gh-token"} {
		if strings.Contains(w.out.String(), secret) {
			t.Errorf("the output shows %s", secret)
		}
	}
	// Neither a PyPI token nor an OIDC environment: refused before any write.
	w2 := setup(t, files)
	w2.opts.Env = func(k string) string { return map[string]string{"GITHUB_TOKEN": "gh-token"}[k] }
	if err := Run(context.Background(), w2.opts); err == nil || !strings.Contains(err.Error(), "no OIDC token available") {
		t.Errorf("no PyPI credential: %v", err)
	}
	w2.nothingWritten(t)
}

// --tag-only pushes the tag and nothing else, with GITHUB_TOKEN alone.
func TestTagOnly(t *testing.T) {
	files := artifacts(t)
	w := setup(t, files)
	w.opts.TagOnly = true
	w.opts.Env = func(k string) string { return map[string]string{"GITHUB_TOKEN": "gh-token"}[k] }
	for range 2 { // the second run finds the tag and does nothing
		if err := Run(context.Background(), w.opts); err != nil {
			t.Fatalf("%v\n%s", err, w.out)
		}
	}
	if tags := git(t, w.bare, "tag"); tags != "v0.1.0" {
		t.Errorf("remote tags %q, want v0.1.0", tags)
	}
	if len(w.gh.Releases) != 0 || w.gh.Uploads != 0 || len(w.index.Uploads) != 0 {
		t.Errorf("tag-only wrote more than the tag: %d releases, %d assets, %d wheels", len(w.gh.Releases), w.gh.Uploads, len(w.index.Uploads))
	}
}
