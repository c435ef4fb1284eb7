package liveinit

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/source"
)

func TestParseCmdline(t *testing.T) {
	c := ParseCmdline("BOOT_IMAGE=x console=ttyS0,115200 fetch=http://10.0.2.2:8080/boot/a.squashfs bty.server=http://10.0.2.2:8080 bty.mac=52:54:00:AA:BB:CC quiet\n")
	if c.Fetch != "http://10.0.2.2:8080/boot/a.squashfs" || c.Server != "http://10.0.2.2:8080" || c.MAC != "52:54:00:aa:bb:cc" {
		t.Errorf("ParseCmdline = %+v", c)
	}
}

func TestFetchProgressAndErrors(t *testing.T) {
	data := bytes.Repeat([]byte("squash"), 100000)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	defer ts.Close()
	var out bytes.Buffer
	i := &Init{Out: &out}
	dst := filepath.Join(t.TempDir(), "live.squashfs")
	if err := i.Fetch(context.Background(), ts.URL+"/ok", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Error("fetched file differs")
	}
	if strings.Count(out.String(), "bty-init: fetch ") != 4 || !strings.Contains(out.String(), "fetch 100%") {
		t.Errorf("progress lines:\n%s", out.String())
	}
	if err := i.Fetch(context.Background(), ts.URL+"/missing", dst); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
}

// The squashfs download survives a dropped connection: it resumes at its
// offset when the server proves the file is the same (ETag), else it
// fails and the next attempt writes the file anew from byte 0 (never
// appended); a server that goes silent is given up on (issue 31: the
// download had no resume and could hang forever).
func TestFetchRecovers(t *testing.T) {
	data := bytes.Repeat([]byte("squashfs"), 300000)
	var mu sync.Mutex
	requests := map[string]int{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests[r.URL.Path]++
		first := requests[r.URL.Path] == 1
		mu.Unlock()
		switch r.URL.Path {
		case "/silent":
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:1000])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		case "/etag":
			w.Header().Set("ETag", `"sq-1"`)
		}
		if first {
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "", time.Unix(1e9, 0), bytes.NewReader(data))
	}))
	defer ts.Close()
	var out bytes.Buffer
	i := &Init{Out: &out, FetchIdle: 500 * time.Millisecond}
	dst := filepath.Join(t.TempDir(), "live.squashfs")

	if err := i.Fetch(context.Background(), ts.URL+"/etag", dst); err != nil {
		t.Fatalf("a cut with an ETag: %v\n%s", err, out.String())
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) || !strings.Contains(out.String(), "resuming with a Range request") {
		t.Errorf("resumed download: %d bytes, console:\n%s", len(got), out.String())
	}

	err := i.Fetch(context.Background(), ts.URL+"/noetag", dst)
	if !errors.Is(err, source.ErrNotResumable) {
		t.Fatalf("a cut without a validator: %v; want it refused as not resumable", err)
	}
	if err := i.Fetch(context.Background(), ts.URL+"/noetag", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Errorf("the download started over is %d bytes, not the file", len(got))
	}

	start := time.Now()
	if err := i.Fetch(context.Background(), ts.URL+"/silent", dst); err == nil {
		t.Error("a silent server's download succeeded")
	}
	t.Logf("a silent server given up on after %s", time.Since(start).Round(10*time.Millisecond))
}
