// Package github creates a GitHub release for a tag and uploads its assets
// through the REST API, idempotently: an asset already present with the same
// sha256 is skipped, one with another digest is an error, never replaced.
package github

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to one repository.
type Client struct {
	API     string // e.g. the REST API base
	Uploads string // the uploads host base
	Repo    string // owner/name
	Token   string // sent as a bearer token, never printed
	HTTP    *http.Client
}

// Asset is a release asset as the API reports it.
type Asset struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"` // "sha256:<hex>"
}

// Release is the part of a release this client uses.
type Release struct {
	ID     int64   `json:"id"`
	Tag    string  `json:"tag_name"`
	Assets []Asset `json:"assets"`
}

// Has says whether the release has an asset of that name.
func (r Release) Has(name string) bool {
	for _, a := range r.Assets {
		if a.Name == name {
			return true
		}
	}
	return false
}

func (c *Client) do(ctx context.Context, method, url, ctype string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		if resp.StatusCode == http.StatusNotFound {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %s %s", method, url, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// Ensure returns the release for tag, creating it if missing.
func (c *Client) Ensure(ctx context.Context, tag string) (Release, error) {
	var r Release
	base := strings.TrimSuffix(c.API, "/") + "/repos/" + c.Repo + "/releases"
	code, err := c.do(ctx, http.MethodGet, base+"/tags/"+url.PathEscape(tag), "", nil, &r)
	if err != nil || code == http.StatusOK {
		return r, err
	}
	body, _ := json.Marshal(map[string]any{"tag_name": tag, "name": tag})
	_, err = c.do(ctx, http.MethodPost, base, "application/json", body, &r)
	return r, err
}

// Upload adds an asset unless the release has it with the same digest.
func (c *Client) Upload(ctx context.Context, r Release, name string, data []byte, log func(string, ...any)) error {
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	for _, a := range r.Assets {
		if a.Name != name {
			continue
		}
		if a.Digest == digest {
			log("release asset %s already present; skipped", name)
			return nil
		}
		return fmt.Errorf("release %s already has an asset %s with digest %q, not %s; refusing to replace it", r.Tag, name, a.Digest, digest)
	}
	u := fmt.Sprintf("%s/repos/%s/releases/%d/assets?name=%s", strings.TrimSuffix(c.Uploads, "/"), c.Repo, r.ID, url.QueryEscape(name))
	if _, err := c.do(ctx, http.MethodPost, u, "application/octet-stream", data, nil); err != nil {
		return err
	}
	log("uploaded release asset %s", name)
	return nil
}
