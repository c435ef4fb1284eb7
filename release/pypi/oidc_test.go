package pypi

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bty-lab/bty/release/fakes"
)

// Trusted publishing against fakes of the documented endpoints: the OIDC
// token is asked for audience "pypi" and exchanged for the upload token;
// PyPI's refusals come back with their code and the fix; no token leaks.
func TestMintToken(t *testing.T) {
	oidc := &fakes.OIDC{RequestToken: "req-secret", IDToken: "id-trusted"}
	mint := &fakes.Mint{Trusted: map[string]string{"id-trusted": "pypi-upload-secret"}, Expired: map[string]bool{"id-old": true}}
	gh, py := httptest.NewServer(oidc), httptest.NewServer(mint)
	defer gh.Close()
	defer py.Close()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	good := map[string]string{EnvOIDCURL: gh.URL + "/token?api-version=2.0", EnvOIDCToken: "req-secret"}

	tok, err := MintToken(context.Background(), gh.Client(), py.URL+"/_/oidc/mint-token", env(good))
	if err != nil || tok != "pypi-upload-secret" {
		t.Fatalf("MintToken = %q, %v", tok, err)
	}
	if len(oidc.Audiences) != 1 || oidc.Audiences[0] != "pypi" {
		t.Errorf("audiences asked for: %q, want pypi", oidc.Audiences)
	}

	for name, tc := range map[string]struct {
		idToken, reqToken string
		env               map[string]string
		want              string
	}{
		"unknown publisher": {"id-stranger", "req-secret", nil, "invalid-publisher"},
		"expired token":     {"id-old", "req-secret", nil, "Signature has expired"},
		"bad request token": {"id-trusted", "wrong", nil, "401"},
		"not in Actions":    {"", "", map[string]string{}, "no OIDC token available"},
	} {
		oidc.IDToken = tc.idToken
		e := tc.env
		if e == nil {
			e = map[string]string{EnvOIDCURL: gh.URL + "/token", EnvOIDCToken: tc.reqToken}
		}
		_, err := MintToken(context.Background(), gh.Client(), py.URL+"/_/oidc/mint-token", env(e))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
			continue
		}
		for _, secret := range []string{"req-secret", "id-trusted", "id-old", "id-stranger", "pypi-upload-secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows a token: %v", name, err)
			}
		}
	}
	if _, err := MintToken(context.Background(), gh.Client(), py.URL, env(map[string]string{})); !errors.Is(err, ErrNoOIDC) {
		t.Errorf("no OIDC environment: %v", err)
	}
}
