package ocipush

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bty-lab/bty/internal/testenv"
)

func tarball(t *testing.T) string {
	t.Helper()
	var rel string
	for _, p := range testenv.Runfiles(t, "BTY_OCI_FILES", "//release/ocipush:ocipush_test") {
		if strings.HasSuffix(p, ".tar") {
			rel = p
		}
	}
	if rel == "" {
		t.Fatal("BTY_OCI_FILES names no image tarball")
	}
	return rel
}

func TestPushAndRetry(t *testing.T) {
	idx, err := Open(tarball(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	host := testenv.Registry(t)
	// A proxy that fails the first manifest PUT with 503: the push must
	// retry and succeed.
	target, _ := url.Parse("http://" + host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failed atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !failed.Swap(true) {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	fhost := strings.TrimPrefix(front.URL, "http://")
	var log []string
	logf := func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }
	refs := []string{fhost + "/bty/bty-tftp:1.0.0", fhost + "/bty/bty-tftp:latest"}
	if err := Push(context.Background(), idx, refs, authn.Anonymous, true, logf); err != nil {
		t.Fatal(err)
	}
	if !failed.Load() {
		t.Error("the injected 503 was never hit")
	}
	want, _ := idx.Digest()
	for _, r := range refs {
		ref, _ := name.ParseReference(strings.Replace(r, fhost, host, 1), name.Insecure)
		got, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("%s serves %s, want %s", r, d, want)
		}
	}
	// A re-run finds everything in place and pushes nothing.
	log = nil
	if err := Push(context.Background(), idx, refs, authn.Anonymous, true, logf); err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || !strings.Contains(log[0], "skipped") || !strings.Contains(log[1], "skipped") {
		t.Errorf("re-run log: %q", log)
	}
}

func TestOpenRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tar")
	f, _ := os.Create(bad)
	f.WriteString(strings.Repeat("\x00", 1024))
	f.Close()
	if _, err := Open(bad, t.TempDir()); err == nil {
		t.Error("an empty tarball opened as a layout")
	}
}
