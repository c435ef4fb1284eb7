// Package fakes holds working stand-ins for the services a release talks
// to that cannot be reached from here: GitHub's releases API and a Python
// package index (the legacy upload API, the JSON API, the simple index).
// They follow the documented request and response shapes; tests run the
// real clients (ours, twine, pip) against them.
package fakes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/bty-lab/bty/release/github"
)

// GitHub implements the documented shapes of the releases API: GET
// .../releases/tags/{tag}, POST .../releases, POST (uploads)
// .../releases/{id}/assets?name=.
type GitHub struct {
	mu       sync.Mutex
	Repo     string // owner/name
	Token    string
	Releases map[string]*github.Release
	Uploads  int
	// Writes lists every write in order: "release TAG", "asset NAME".
	Writes []string
	// Data holds each uploaded asset's bytes, by name.
	Data map[string][]byte
}

func (f *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/repos/"+f.Repo+"/releases/tags/"):
		rel, ok := f.Releases[strings.TrimPrefix(r.URL.Path, "/repos/"+f.Repo+"/releases/tags/")]
		if !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(rel)
	case r.Method == http.MethodPost && r.URL.Path == "/repos/"+f.Repo+"/releases":
		var in struct {
			TagName string `json:"tag_name"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		rel := &github.Release{ID: int64(len(f.Releases) + 1), Tag: in.TagName, Assets: []github.Asset{}}
		f.Releases[in.TagName] = rel
		f.Writes = append(f.Writes, "release "+in.TagName)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(rel)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/assets"):
		data, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(data)
		for _, rel := range f.Releases {
			if r.URL.Path == fmt.Sprintf("/repos/"+f.Repo+"/releases/%d/assets", rel.ID) {
				rel.Assets = append(rel.Assets, github.Asset{ID: int64(len(rel.Assets) + 1), Name: r.URL.Query().Get("name"), Size: int64(len(data)), Digest: "sha256:" + hex.EncodeToString(sum[:])})
				f.Uploads++
				f.Writes = append(f.Writes, "asset "+r.URL.Query().Get("name"))
				if f.Data == nil {
					f.Data = map[string][]byte{}
				}
				f.Data[r.URL.Query().Get("name")] = data
				w.WriteHeader(http.StatusCreated)
				w.Write([]byte(`{}`))
				return
			}
		}
		http.NotFound(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Index is a small package index: the legacy upload API, the JSON API, the
// simple index and file downloads. It records every upload's form.
type Index struct {
	mu      sync.Mutex
	files   map[string][]byte
	Forms   []map[string][]string
	FailOn  string // an upload of this file name fails once with 500
	Uploads map[string]int
	Token   string
	// Writes lists every upload in order: "wheel NAME" or "sdist NAME".
	Writes []string
}

// NewIndex returns an empty index accepting the token.
func NewIndex(token string) *Index {
	return &Index{Token: token, files: map[string][]byte{}, Uploads: map[string]int{}}
}

func (x *Index) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/legacy/":
		if u, p, ok := r.BasicAuth(); !ok || u != "__token__" || p != x.Token {
			http.Error(w, "invalid credentials", http.StatusForbidden)
			return
		}
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, h, err := r.FormFile("content")
		if err != nil {
			http.Error(w, "no content", http.StatusBadRequest)
			return
		}
		data, _ := io.ReadAll(f)
		if x.FailOn == h.Filename {
			x.FailOn = ""
			http.Error(w, "transient failure", http.StatusInternalServerError)
			return
		}
		sum := sha256.Sum256(data)
		if r.FormValue("sha256_digest") != hex.EncodeToString(sum[:]) || r.FormValue(":action") != "file_upload" {
			http.Error(w, "digest mismatch", http.StatusBadRequest)
			return
		}
		if _, dup := x.files[h.Filename]; dup {
			http.Error(w, "File already exists", http.StatusBadRequest)
			return
		}
		form := map[string][]string{"content": {h.Filename}}
		for k, v := range r.MultipartForm.Value {
			form[k] = v
		}
		x.Forms = append(x.Forms, form)
		x.files[h.Filename] = data
		x.Uploads[h.Filename]++
		kind := map[string]string{"bdist_wheel": "wheel", "sdist": "sdist"}[r.FormValue("filetype")]
		if kind == "" {
			http.Error(w, "unknown filetype "+r.FormValue("filetype"), http.StatusBadRequest)
			return
		}
		x.Writes = append(x.Writes, kind+" "+h.Filename)
	case strings.HasSuffix(r.URL.Path, "/json"):
		var urls []map[string]any
		for name, data := range x.files {
			sum := sha256.Sum256(data)
			urls = append(urls, map[string]any{"filename": name, "digests": map[string]string{"sha256": hex.EncodeToString(sum[:])}})
		}
		if len(urls) == 0 {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"urls": urls})
	case strings.HasPrefix(r.URL.Path, "/simple/"):
		fmt.Fprint(w, "<!DOCTYPE html><html><body>\n")
		for name, data := range x.files {
			sum := sha256.Sum256(data)
			fmt.Fprintf(w, "<a href=\"/files/%s#sha256=%s\">%s</a>\n", name, hex.EncodeToString(sum[:]), name)
		}
		fmt.Fprint(w, "</body></html>\n")
	case strings.HasPrefix(r.URL.Path, "/files/"):
		data, ok := x.files[strings.TrimPrefix(r.URL.Path, "/files/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	default:
		http.NotFound(w, r)
	}
}

// OIDC is GitHub Actions' ID token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL):
// GET with "Authorization: bearer <request token>" and ?audience= answers
// {"count": 1, "value": "<ID token>"}.
type OIDC struct {
	RequestToken string
	IDToken      string
	Audiences    []string // the audiences asked for, in order
}

func (o *OIDC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "bearer "+o.RequestToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	o.Audiences = append(o.Audiences, r.URL.Query().Get("audience"))
	json.NewEncoder(w).Encode(map[string]any{"count": 1, "value": o.IDToken})
}

// Mint is PyPI's trusted-publishing exchange (POST /_/oidc/mint-token with
// {"token": <ID token>}): a trusted, fresh ID token gets {"success": true,
// "token": <upload token>}; others get 422 with PyPI's documented error
// shape.
type Mint struct {
	Trusted map[string]string // ID token -> upload token
	Expired map[string]bool
}

func (m *Mint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, `{"message":"Token request failed","errors":[{"code":"invalid-payload","description":"malformed request"}]}`, http.StatusUnprocessableEntity)
		return
	}
	fail := func(code, desc string) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]any{"message": "Token request failed", "errors": []map[string]string{{"code": code, "description": desc}}})
	}
	switch {
	case m.Expired[in.Token]:
		fail("invalid-payload", "Signature has expired")
	case m.Trusted[in.Token] == "":
		fail("invalid-publisher", "valid token, but no corresponding publisher (All lookup strategies exhausted)")
	default:
		json.NewEncoder(w).Encode(map[string]any{"success": true, "token": m.Trusted[in.Token]})
	}
}
