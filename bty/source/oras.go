package source

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryOptions configure oras:// sources.
type RegistryOptions struct {
	// Auth is used for the registry; nil means credentials from the
	// environment (BTY_REGISTRY_TOKEN, or BTY_REGISTRY_USERNAME and
	// BTY_REGISTRY_PASSWORD), else anonymous.
	Auth authn.Authenticator
	// Insecure allows plain HTTP to the registry.
	Insecure bool
}

// titleAnnotation is where ORAS records a layer's file name.
const titleAnnotation = "org.opencontainers.image.title"

// AuthFromEnv returns registry credentials from the environment, or
// anonymous access when none are set.
func AuthFromEnv() authn.Authenticator {
	if tok := os.Getenv("BTY_REGISTRY_TOKEN"); tok != "" {
		return &authn.Bearer{Token: tok}
	}
	if user, pass := os.Getenv("BTY_REGISTRY_USERNAME"), os.Getenv("BTY_REGISTRY_PASSWORD"); user != "" || pass != "" {
		return &authn.Basic{Username: user, Password: pass}
	}
	return authn.Anonymous
}

// openORAS fetches the manifest of ref and streams its single layer, whose
// digest go-containerregistry verifies as it is read.
func openORAS(ctx context.Context, ref string, opts RegistryOptions) (*Source, error) {
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("oras reference %q: %w", ref, err)
	}
	auth := opts.Auth
	if auth == nil {
		auth = AuthFromEnv()
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth)}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetching manifest of oras://%s: %w", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("oras://%s is not an artifact manifest: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest of oras://%s: %w", ref, err)
	}
	if len(m.Layers) != 1 {
		return nil, fmt.Errorf("oras://%s has %d layers; bty expects an artifact with exactly one layer, the image", ref, len(m.Layers))
	}
	layer := m.Layers[0]
	blob, err := remote.Layer(r.Context().Digest(layer.Digest.String()), ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetching layer %s of oras://%s: %w", layer.Digest, ref, err)
	}
	// Compressed returns the blob exactly as stored, which is the image.
	rc, err := blob.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching layer %s of oras://%s: %w", layer.Digest, ref, err)
	}
	return &Source{ReadCloser: rc, Name: layer.Annotations[titleAnnotation], Size: layer.Size}, nil
}
