// Package pypi uploads wheels to a Python package index with the legacy
// upload API (the one twine uses) and reads what the index already has from
// its JSON API, so a re-run never uploads a file twice and never overwrites
// one with different bytes.
package pypi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/bty-lab/bty/internal/wheelcheck"
)

// Client talks to one index.
type Client struct {
	Upload  string // legacy upload endpoint
	JSONAPI string // base of /<project>/<version>/json
	Project string
	Token   string // API token; sent as the __token__ user's password, never printed
	HTTP    *http.Client
}

// Files returns the files the index has for version, by name -> sha256
// (empty if the version does not exist).
func (c *Client) Files(ctx context.Context, version string) (map[string]string, error) {
	_, files, err := c.release(ctx, version)
	return files, err
}

// Exists reports whether the index has version at all.
func (c *Client) Exists(ctx context.Context, version string) (bool, error) {
	found, _, err := c.release(ctx, version)
	return found, err
}

// release asks the JSON API for version: whether it exists and its files.
func (c *Client) release(ctx context.Context, version string) (bool, map[string]string, error) {
	url := strings.TrimSuffix(c.JSONAPI, "/") + "/" + c.Project + "/" + version + "/json"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return false, nil, fmt.Errorf("asking the index (%s): %w", url, err)
	}
	defer resp.Body.Close()
	files := map[string]string{}
	if resp.StatusCode == http.StatusNotFound {
		return false, files, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, nil, fmt.Errorf("asking the index (%s): %s", url, resp.Status)
	}
	var doc struct {
		URLs []struct {
			Filename string            `json:"filename"`
			Digests  map[string]string `json:"digests"`
		} `json:"urls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return true, nil, fmt.Errorf("index JSON for %s %s: %w", c.Project, version, err)
	}
	for _, u := range doc.URLs {
		files[u.Filename] = u.Digests["sha256"]
	}
	return true, files, nil
}

// Form builds the multipart upload of a wheel or an sdist: the fields
// twine sends for the core metadata, the digest, and the file.
func Form(path string) (body []byte, contentType string, err error) {
	check, filetype, pyversion := wheelcheck.Check, "bdist_wheel", "py3"
	if wheelcheck.IsSdist(filepath.Base(path)) {
		check, filetype, pyversion = wheelcheck.CheckSdist, "sdist", "source"
	}
	w, err := check(path)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	one := func(k string) string {
		if v := w.Metadata[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	fields := [][2]string{
		{":action", "file_upload"},
		{"protocol_version", "1"},
		{"metadata_version", one("Metadata-Version")},
		{"name", one("Name")},
		{"version", one("Version")},
		{"filetype", filetype},
		{"pyversion", pyversion},
		{"summary", one("Summary")},
		{"license", one("License")},
		{"requires_python", one("Requires-Python")},
		{"description", w.Description},
		{"description_content_type", one("Description-Content-Type")},
		{"sha256_digest", hex.EncodeToString(sum[:])},
	}
	for _, u := range w.Metadata["Project-URL"] {
		fields = append(fields, [2]string{"project_urls", u})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, "", err
		}
	}
	fw, err := mw.CreateFormFile("content", filepath.Base(path))
	if err != nil {
		return nil, "", err
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// UploadAll uploads each wheel of version that the index lacks; see Upload.
func (c *Client) UploadAll(ctx context.Context, version string, wheels []string, log func(string, ...any)) error {
	for _, p := range wheels {
		if err := c.UploadWheel(ctx, version, p, log); err != nil {
			return err
		}
	}
	return nil
}

// UploadWheel uploads one wheel (or the sdist) of version unless the index has it: a file the
// index has with the same sha256 counts as done, one with another sha256 is
// an error (an index never replaces a file).
func (c *Client) UploadWheel(ctx context.Context, version, path string, log func(string, ...any)) error {
	have, err := c.Files(ctx, version)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := sha256.Sum256(data)
	sum, name := hex.EncodeToString(s[:]), filepath.Base(path)
	if got, ok := have[name]; ok {
		if got != sum {
			return fmt.Errorf("the index has %s with sha256 %s, not %s; indexes never replace files: bump VERSION", name, got, sum)
		}
		log("%s already uploaded; skipped", name)
		return nil
	}
	body, ctype, err := Form(path)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Upload, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.SetBasicAuth("__token__", c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("uploading %s: %w", name, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("uploading %s: %s %s", name, resp.Status, bytes.TrimSpace(msg))
	}
	log("uploaded %s", name)
	return nil
}
