// Package ocipush publishes an OCI image index from a layout tarball to a
// registry: children (blobs and platform manifests) first, then the index,
// with retries on transient errors, and confirms the digest the registry
// then serves.
package ocipush

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Open unpacks a layout tarball (as //images builds them) into dir and
// returns its index.
func Open(tarball, dir string) (v1.ImageIndex, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", tarball, err)
		}
		p := filepath.Join(dir, h.Name)
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			return nil, fmt.Errorf("%s: entry %q leaves the layout", tarball, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			out, err := os.Create(p)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	return layout.ImageIndexFromPath(dir)
}

// Push writes idx to each ref (e.g. host/ns/bty-web:1.4.0 and :latest) and
// checks that the registry serves exactly idx's digest afterwards. A ref
// already holding that digest is left alone, so a re-run after a failure
// pushes only what is missing.
func Push(ctx context.Context, idx v1.ImageIndex, refs []string, auth authn.Authenticator, insecure bool, log func(string, ...any)) error {
	want, err := idx.Digest()
	if err != nil {
		return err
	}
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	opts := []remote.Option{
		remote.WithContext(ctx), remote.WithAuth(auth),
		// Transient failures (5xx, resets) are retried with backoff by
		// go-containerregistry; a 4xx is final.
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 5}),
	}
	for _, r := range refs {
		ref, err := name.ParseReference(r, nopts...)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", r, err)
		}
		if d, err := remote.Head(ref, opts...); err == nil && d.Digest == want {
			log("%s already has %s; skipped", r, want)
			continue
		}
		if err := remote.WriteIndex(ref, idx, opts...); err != nil {
			return fmt.Errorf("pushing %s: %w", r, err)
		}
		d, err := remote.Head(ref, opts...)
		if err != nil {
			return fmt.Errorf("confirming %s: %w", r, err)
		}
		if d.Digest != want {
			return fmt.Errorf("%s now serves %s, not the pushed %s", r, d.Digest, want)
		}
		log("pushed %s (%s)", r, want)
	}
	return nil
}

// SigstoreReferrers counts the sigstore bundles (signatures, attestations)
// that refer to the index or image ref (host/name@sha256:...) in its
// registry: through the referrers API, or the tag schema registries without
// it use.
func SigstoreReferrers(ctx context.Context, ref string, insecure bool, auth authn.Authenticator) (int, error) {
	opts := []name.Option{}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	d, err := name.NewDigest(ref, opts...)
	if err != nil {
		return 0, err
	}
	idx, err := remote.Referrers(d, remote.WithContext(ctx), remote.WithAuth(auth))
	if err != nil {
		return 0, fmt.Errorf("referrers of %s: %w", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return 0, err
	}
	// A registry without the referrers API gets its artifact type from the
	// manifest's config (cosign's is empty): the bundle is the layer.
	n := 0
	for _, desc := range m.Manifests {
		if strings.Contains(desc.ArtifactType, "sigstore.bundle") {
			n++
			continue
		}
		img, err := remote.Image(d.Context().Digest(desc.Digest.String()), remote.WithContext(ctx), remote.WithAuth(auth))
		if err != nil {
			return 0, fmt.Errorf("referrer %s of %s: %w", desc.Digest, ref, err)
		}
		man, err := img.Manifest()
		if err != nil {
			return 0, err
		}
		for _, l := range man.Layers {
			if strings.Contains(string(l.MediaType), "sigstore.bundle") {
				n++
				break
			}
		}
	}
	return n, nil
}
