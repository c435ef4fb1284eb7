// Package sign makes the release's signatures with cosign: a sigstore
// bundle (<file>.sigstore.json) for each release file, which anyone checks
// with the stock `cosign verify-blob`. One code path, two identities: in
// GitHub Actions, keyless, with the job's OIDC token (sigstore's Fulcio
// certifies the workflow, Rekor logs the signature); anywhere else, with a
// cosign key pair (BTY_COSIGN_KEY), and no transparency log, since
// sigstore's public services may not be reachable (they are not from the
// build machines).
package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Signer signs files with cosign.
type Signer struct {
	Cosign string // the cosign binary
	// Key is a cosign private key file (cosign generate-key-pair); its
	// password comes from COSIGN_PASSWORD in Env. Empty: keyless.
	Key string
	Env []string // the environment cosign runs with
}

// Env names.
const (
	EnvKey       = "BTY_COSIGN_KEY"
	EnvOIDCURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvOIDCToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// ErrNoIdentity means there is neither a key nor an OIDC token to sign with.
var ErrNoIdentity = errors.New("nothing to sign with: set " + EnvKey + " to a cosign private key (and COSIGN_PASSWORD), or run in GitHub Actions with id-token: write")

// New picks the identity from the environment: the key in BTY_COSIGN_KEY,
// else keyless when the job can mint OIDC tokens, else ErrNoIdentity.
func New(getenv func(string) string, environ []string) (Signer, error) {
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		return Signer{}, fmt.Errorf("cosign is not installed (apt-get install cosign): %w", err)
	}
	s := Signer{Cosign: cosign, Key: getenv(EnvKey), Env: environ}
	if s.Key == "" && (getenv(EnvOIDCURL) == "" || getenv(EnvOIDCToken) == "") {
		return s, ErrNoIdentity
	}
	return s, nil
}

// Identity says how s signs, for the release plan.
func (s Signer) Identity() string {
	if s.Key != "" {
		return "cosign key " + filepath.Base(s.Key) + ", no transparency log"
	}
	return "keyless: the workflow's OIDC identity, certified by Fulcio, logged in Rekor"
}

// Blob signs file and returns its sigstore bundle.
func (s Signer) Blob(ctx context.Context, file string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "bty-sign-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "bundle.sigstore.json")
	identity, err := s.identity(ctx, dir)
	if err != nil {
		return nil, err
	}
	args := append([]string{"sign-blob", "--yes", "--bundle", bundle}, identity...)
	if err := s.run(ctx, append(args, file)...); err != nil {
		return nil, fmt.Errorf("signing %s: %w", filepath.Base(file), err)
	}
	return os.ReadFile(bundle)
}

// Registry is how cosign reaches a registry: credentials (none for the
// tests' registry), and whether it is plain HTTP.
type Registry struct {
	Username, Password string
	Insecure           bool
}

// Image signs the image (or index) ref, which names it by digest
// (host/name@sha256:...), in its registry.
func (s Signer) Image(ctx context.Context, ref string, reg Registry) error {
	return s.registry(ctx, []string{"sign"}, ref, reg)
}

// Attest attaches the SPDX SBOM at sbom to the image ref as a signed
// attestation (cosign's predicate type spdxjson).
func (s Signer) Attest(ctx context.Context, ref, sbom string, reg Registry) error {
	return s.registry(ctx, []string{"attest", "--type", "spdxjson", "--predicate", sbom}, ref, reg)
}

func (s Signer) registry(ctx context.Context, cmd []string, ref string, reg Registry) error {
	dir, err := os.MkdirTemp("", "bty-sign-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	identity, err := s.identity(ctx, dir)
	if err != nil {
		return err
	}
	args := append(append(cmd, "--yes"), identity...)
	if reg.Insecure {
		args = append(args, "--allow-insecure-registry", "--allow-http-registry")
	}
	if reg.Password != "" {
		args = append(args, "--registry-username", reg.Username, "--registry-password", reg.Password)
	}
	if err := s.run(ctx, append(args, ref)...); err != nil {
		return fmt.Errorf("%s %s: %w", cmd[0], ref, err)
	}
	return nil
}

// identity returns cosign's arguments for s's identity: with a key, the key
// and a signing config without a transparency log (cosign 3 signs with a
// key offline only so); keyless, none (cosign's defaults: Fulcio, Rekor).
func (s Signer) identity(ctx context.Context, dir string) ([]string, error) {
	if s.Key == "" {
		return nil, nil
	}
	config := filepath.Join(dir, "signing-config.json")
	if err := s.run(ctx, "signing-config", "create", "--no-default-fulcio", "--no-default-oidc", "--no-default-rekor", "--no-default-tsa", "--out", config); err != nil {
		return nil, err
	}
	return []string{"--key", s.Key, "--signing-config", config}, nil
}

func (s Signer) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, s.Cosign, args...)
	cmd.Env = s.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cosign %s: %v: %s", args[0], err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
