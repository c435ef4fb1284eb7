package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bty-lab/bty/bty/imagetest"
)

var content = imagetest.Disk(3<<20+123, 1)

func TestLocalFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk.img.zst")
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Name != "disk.img.zst" || s.Size != int64(len(content)) || s.File == nil {
		t.Errorf("source = %q, size %d, file %v", s.Name, s.Size, s.File)
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing.img"), Options{}); err == nil {
		t.Error("opening a missing file succeeded")
	}
	if _, err := Open(context.Background(), t.TempDir(), Options{}); err == nil {
		t.Error("opening a directory succeeded")
	}
	if _, err := Open(context.Background(), "ftp://h/a.img", Options{}); err == nil {
		t.Error("opening ftp:// succeeded")
	}
}

// server serves content; on the first request it sends only cut bytes and
// then drops the connection. It records the Range header of each request.
type server struct {
	mu       sync.Mutex
	ranges   []string
	cut      int
	noRanges bool // ignore Range and never advertise it
	etag     string
	newEtag  string // the file "changes" after the first request
	// ignoreIfRange answers a Range request with 206 from the changed file
	// even when If-Range names the old version (a broken server or proxy).
	ignoreIfRange bool
	// noValidator sends neither ETag nor Last-Modified.
	noValidator bool
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	first := len(s.ranges) == 0
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	etag := s.etag
	if !first && s.newEtag != "" {
		etag = s.newEtag
	}
	s.mu.Unlock()
	if s.noRanges {
		r.Header.Del("Range")
	} else {
		w.Header().Set("ETag", etag)
	}
	if !first && s.ignoreIfRange {
		var from int
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from)
		changed := bytes.Repeat([]byte{0xee}, len(content))
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(content)-1, len(content)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(changed[from:])
		return
	}
	if s.noValidator {
		w.Header().Del("ETag")
	}
	if first && s.cut > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		if !s.noRanges {
			w.Header().Set("Accept-Ranges", "bytes")
		}
		w.WriteHeader(http.StatusOK)
		w.Write(content[:s.cut])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	if s.noRanges {
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		w.Write(content)
		return
	}
	modtime := time.Unix(1e9, 0)
	if s.noValidator {
		modtime = time.Time{} // ServeContent then sends no Last-Modified
	}
	http.ServeContent(w, r, "disk.img", modtime, bytes.NewReader(content))
}

func fetch(t *testing.T, s *server) ([]byte, error) {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	src, err := Open(context.Background(), ts.URL+"/images/disk.img", Options{HTTP: HTTPOptions{Backoff: time.Millisecond}})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if src.Name != "disk.img" || src.Size != int64(len(content)) {
		t.Errorf("source %q size %d", src.Name, src.Size)
	}
	return io.ReadAll(src)
}

func TestHTTPWhole(t *testing.T) {
	s := &server{etag: `"v1"`}
	got, err := fetch(t, s)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("fetch: %v, %d bytes", err, len(got))
	}
}

// A transfer cut half-way resumes with a Range request at the exact byte.
func TestHTTPResumesAtExactOffset(t *testing.T) {
	s := &server{cut: 1<<20 + 7, etag: `"v1"`}
	got, err := fetch(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("resumed transfer differs from the file")
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", s.cut)}; fmt.Sprint(s.ranges) != fmt.Sprint(want) {
		t.Errorf("requests' Range headers = %q, want %q", s.ranges, want)
	}
}

// Without Range support the transfer fails; it is never restarted from 0.
func TestHTTPNoRangeSupportFails(t *testing.T) {
	s := &server{cut: 1 << 20, noRanges: true}
	got, err := fetch(t, s)
	if !errors.Is(err, ErrNotResumable) {
		t.Fatalf("err = %v, want ErrNotResumable", err)
	}
	if len(got) != s.cut || len(s.ranges) != 1 {
		t.Errorf("read %d bytes in %d requests; want exactly the %d sent, and no second request", len(got), len(s.ranges), s.cut)
	}
	if !strings.Contains(err.Error(), "does not support byte ranges") {
		t.Errorf("error %q does not say why", err)
	}
}

// If the file changed between the requests, If-Range makes the server send
// the whole new file (200), which must not be spliced onto the old bytes.
func TestHTTPChangedFileFails(t *testing.T) {
	s := &server{cut: 1 << 20, etag: `"v1"`, newEtag: `"v2"`}
	if _, err := fetch(t, s); !errors.Is(err, ErrNotResumable) {
		t.Fatalf("err = %v, want ErrNotResumable", err)
	}
	if len(s.ranges) != 2 || s.ranges[1] != fmt.Sprintf("bytes=%d-", s.cut) {
		t.Errorf("Range headers = %q", s.ranges)
	}
}

// A server that ignores If-Range and answers 206 from a changed file (a new
// ETag) must not get its bytes spliced onto the old file's (issue 18: the
// disk held the old file's first part and the new file's rest).
func TestHTTPChangedFileIgnoringIfRangeFails(t *testing.T) {
	s := &server{cut: 1 << 20, etag: `"v1"`, newEtag: `"v2"`, ignoreIfRange: true}
	got, err := fetch(t, s)
	if !errors.Is(err, ErrNotResumable) || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("err = %v, want ErrNotResumable saying the file changed", err)
	}
	if len(got) != s.cut {
		t.Errorf("read %d bytes, want only the %d of the first version", len(got), s.cut)
	}
}

// Without a validator a resume cannot be proven to continue the same file.
func TestHTTPNoValidatorDoesNotResume(t *testing.T) {
	s := &server{cut: 1 << 20, noValidator: true}
	_, err := fetch(t, s)
	if !errors.Is(err, ErrNotResumable) || !strings.Contains(err.Error(), "no ETag or Last-Modified") {
		t.Fatalf("err = %v, want ErrNotResumable naming the missing validator", err)
	}
	if len(s.ranges) != 1 {
		t.Errorf("%d requests; want no resume attempt", len(s.ranges))
	}
}

// A server that goes silent mid-file is cut after the idle timeout and the
// transfer resumes at the exact byte instead of hanging forever.
func TestHTTPIdleTimeoutResumes(t *testing.T) {
	var mu sync.Mutex
	var ranges []string
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := len(ranges) == 0
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		if first {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.Write(content[:1000])
			w.(http.Flusher).Flush()
			<-release // silent, connection open
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
	}))
	defer ts.Close()
	defer close(release)
	src, err := Open(context.Background(), ts.URL+"/disk.img", Options{HTTP: HTTPOptions{Backoff: time.Millisecond, IdleTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	got, err := io.ReadAll(src)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, err %v; want the whole file", len(got), err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to notice a silent server", d)
	}
	if len(ranges) != 2 || ranges[1] != "bytes=1000-" {
		t.Errorf("Range headers = %q, want a resume at byte 1000", ranges)
	}
}

func TestHTTPErrors(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	u := strings.Replace(ts.URL, "http://", "http://admin:hunter2@", 1) + "/a.img?token=secret"
	_, err := Open(context.Background(), u, Options{})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want a 404", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks credentials: %v", err)
	}
}

func pushArtifact(t *testing.T, host, repo string, layers ...[]byte) string {
	t.Helper()
	img := empty.Image
	for i, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(l, types.MediaType("application/vnd.bty.image.layer.v1")),
			Annotations: map[string]string{titleAnnotation: fmt.Sprintf("disk%d.img.zst", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	ref, err := name.ParseReference(host+"/"+repo+":1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(ref.String(), "index.docker.io/")
}

// oras:// pulls the artifact's single layer from a real (in-memory) registry.
func TestORAS(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ref := pushArtifact(t, host, "os/debian", content)

	src, err := Open(context.Background(), "oras://"+ref, Options{Registry: RegistryOptions{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := io.ReadAll(src)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	if src.Name != "disk0.img.zst" || src.Size != int64(len(content)) {
		t.Errorf("name %q size %d", src.Name, src.Size)
	}

	two := pushArtifact(t, host, "os/two", content[:10], content[10:20])
	if _, err := Open(context.Background(), "oras://"+two, Options{Registry: RegistryOptions{Insecure: true}}); err == nil || !strings.Contains(err.Error(), "2 layers") {
		t.Errorf("two-layer artifact: %v, want a refusal naming the layer count", err)
	}
	if _, err := Open(context.Background(), "oras://"+host+"/os/missing:1", Options{Registry: RegistryOptions{Insecure: true}}); err == nil {
		t.Error("missing artifact opened")
	}
}

// OpenHTTP takes http(s) URLs only: a program that links it alone (bty-init)
// cannot be sent to a file or a registry.
func TestOpenHTTPOnly(t *testing.T) {
	for _, u := range []string{"file:///etc/passwd", "/etc/passwd", "oras://r/i:t"} {
		if s, err := OpenHTTP(context.Background(), u, HTTPOptions{}); err == nil {
			s.Close()
			t.Errorf("OpenHTTP(%q) opened it", u)
		}
	}
}
