package pypi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Trusted publishing: in a GitHub Actions job with `id-token: write`, the
// runner can mint an OIDC token that names the repository and workflow;
// PyPI exchanges it, for a project that trusts that workflow, for an upload
// token that lives a few minutes. No long-lived PyPI secret exists.

// The environment variables GitHub Actions sets in a job allowed to request
// an OIDC token.
const (
	EnvOIDCURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvOIDCToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// Audience is the OIDC audience PyPI accepts.
const Audience = "pypi"

// ErrNoOIDC means the environment offers no OIDC token (not a GitHub
// Actions job with id-token: write).
var ErrNoOIDC = errors.New("no OIDC token available: not a GitHub Actions job with permissions id-token: write")

// MintToken exchanges the job's OIDC token at PyPI's mint-token endpoint
// for a short-lived upload token. env reads the job's environment. Neither
// token ever appears in an error.
func MintToken(ctx context.Context, client *http.Client, mintURL string, env func(string) string) (string, error) {
	reqURL, reqToken := env(EnvOIDCURL), env(EnvOIDCToken)
	if reqURL == "" || reqToken == "" {
		return "", ErrNoOIDC
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL", EnvOIDCURL)
	}
	q := u.Query()
	q.Set("audience", Audience)
	u.RawQuery = q.Encode()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("Authorization", "bearer "+reqToken)
	var oidc struct {
		Value string `json:"value"`
	}
	if err := doJSON(client, req, &oidc, "requesting the GitHub OIDC token"); err != nil {
		return "", err
	}
	if oidc.Value == "" {
		return "", errors.New("requesting the GitHub OIDC token: the answer holds no token")
	}

	body, _ := json.Marshal(map[string]string{"token": oidc.Value})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, mintURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	var minted struct {
		Token string `json:"token"`
	}
	if err := doJSON(client, req, &minted, "exchanging the OIDC token at "+mintURL); err != nil {
		return "", err
	}
	if minted.Token == "" {
		return "", fmt.Errorf("exchanging the OIDC token at %s: the answer holds no token", mintURL)
	}
	return minted.Token, nil
}

// doJSON sends req and decodes a 200 answer into out; any other answer
// becomes an error with PyPI's or GitHub's own words (never a token).
func doJSON(client *http.Client, req *http.Request, out any, what string) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, redactURLError(err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s%s", what, resp.Status, explain(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: malformed answer: %w", what, err)
	}
	return nil
}

// explain renders the documented error shape {"message", "errors":
// [{"code", "description"}]}, e.g. code "invalid-publisher" when PyPI has
// no trusted publisher for this workflow, with the fix.
func explain(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Errors  []struct {
			Code        string `json:"code"`
			Description string `json:"description"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var parts []string
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	for _, x := range e.Errors {
		parts = append(parts, x.Code+": "+x.Description)
		if x.Code == "invalid-publisher" {
			parts = append(parts, "add this repository and workflow as a trusted publisher of the project on PyPI")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// redactURLError drops the URL (which may carry a token in its query)
// from a transport error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
