package sign

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bty-lab/bty/internal/testenv"
)

// keyPair makes a cosign key pair with an empty password in dir.
func keyPair(t *testing.T, cosign, dir string) (priv, pub string) {
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// verify runs the stock cosign verify-blob on file with bundle.
func verify(cosign, pub, file string, bundle []byte, t *testing.T) error {
	b := filepath.Join(t.TempDir(), "b.sigstore.json")
	os.WriteFile(b, bundle, 0o644)
	out, err := exec.Command(cosign, "verify-blob", "--key", pub, "--bundle", b, "--insecure-ignore-tlog", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// A file signed with a key verifies with the stock cosign; the same bundle
// does not verify a changed file, and another file's bundle does not verify
// this one.
func TestBlobWithKey(t *testing.T) {
	cosign := testenv.Tool(t, "cosign", "cosign")
	dir := t.TempDir()
	priv, pub := keyPair(t, cosign, dir)
	t.Setenv("PATH", filepath.Dir(cosign)+":"+os.Getenv("PATH"))
	s, err := New(func(k string) string { return map[string]string{EnvKey: priv}[k] }, append(os.Environ(), "COSIGN_PASSWORD="))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Identity(), "cosign key cosign.key") {
		t.Errorf("identity %q", s.Identity())
	}
	file, other := filepath.Join(dir, "bty.iso"), filepath.Join(dir, "other.iso")
	os.WriteFile(file, []byte("the release's bytes"), 0o644)
	os.WriteFile(other, []byte("other bytes"), 0o644)
	bundle, err := s.Blob(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bundle), `"mediaType":"application/vnd.dev.sigstore.bundle`) {
		t.Errorf("not a sigstore bundle: %s", bundle)
	}
	if err := verify(cosign, pub, file, bundle, t); err != nil {
		t.Fatalf("cosign verify-blob refuses a fresh signature: %v", err)
	}
	otherBundle, err := s.Blob(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(cosign, pub, file, otherBundle, t); err == nil {
		t.Error("another file's bundle verifies this file")
	}
	os.WriteFile(file, []byte("the release's bytes, tampered"), 0o644)
	if err := verify(cosign, pub, file, bundle, t); err == nil {
		t.Error("a tampered file verifies")
	}
	// Another key's public half does not verify it either.
	_, pub2 := keyPair(t, cosign, t.TempDir())
	os.WriteFile(file, []byte("the release's bytes"), 0o644)
	if err := verify(cosign, pub2, file, bundle, t); err == nil {
		t.Error("the signature verifies with another key")
	}
}

func TestIdentity(t *testing.T) {
	testenv.Tool(t, "cosign", "cosign")
	none := func(string) string { return "" }
	if _, err := New(none, nil); err != ErrNoIdentity {
		t.Errorf("no key, no OIDC: %v", err)
	}
	oidc := func(k string) string { return map[string]string{EnvOIDCURL: "https://x", EnvOIDCToken: "t"}[k] }
	s, err := New(oidc, nil)
	if err != nil || !strings.HasPrefix(s.Identity(), "keyless") {
		t.Errorf("OIDC: %v %q", err, s.Identity())
	}
}

// An image index pushed to a real registry (Debian's docker-registry) is
// signed and its SBOM attested; the stock cosign verifies both with the
// public key, and neither with another key nor for another image.
func TestImage(t *testing.T) {
	cosign := testenv.Tool(t, "cosign", "cosign")
	t.Setenv("PATH", filepath.Dir(cosign)+":"+os.Getenv("PATH"))
	dir := t.TempDir()
	priv, pub := keyPair(t, cosign, dir)
	_, pub2 := keyPair(t, cosign, t.TempDir())
	s, err := New(func(k string) string { return map[string]string{EnvKey: priv}[k] }, append(os.Environ(), "COSIGN_PASSWORD="))
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.Registry(t)
	push := func(name string) string {
		idx, err := random.Index(64, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := gname.ParseReference(reg+"/bty/"+name+":1.0.0", gname.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		return reg + "/bty/" + name + "@" + d.String()
	}
	signed, unsigned := push("bty-web"), push("bty-tftp")
	sbom := filepath.Join(dir, "bty-web.tar.spdx.json")
	os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"bty-web.tar","dataLicense":"CC0-1.0","documentNamespace":"https://example.org/x","creationInfo":{"created":"1970-01-01T00:00:00Z","creators":["Tool: t"]},"packages":[]}`), 0o644)
	ctx := context.Background()
	if err := s.Image(ctx, signed, Registry{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Attest(ctx, signed, sbom, Registry{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	check := func(args ...string) error {
		out, err := exec.Command(cosign, append(args, "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry")...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := check("verify", "--key", pub, signed); err != nil {
		t.Errorf("cosign verify refuses the signed index: %v", err)
	}
	if err := check("verify-attestation", "--key", pub, "--type", "spdxjson", signed); err != nil {
		t.Errorf("cosign verify-attestation refuses the SBOM: %v", err)
	}
	if err := check("verify", "--key", pub2, signed); err == nil {
		t.Error("the index verifies with another key")
	}
	if err := check("verify", "--key", pub, unsigned); err == nil {
		t.Error("an index never signed verifies")
	}
}
