package flash

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/source"
)

// cutter serves an image the way a flaky server does: it may cut the
// connection after cut bytes of the first cuts responses, leave out
// validators (no ETag, no Last-Modified), ignore byte ranges, and serve a
// new version of the file from the second request on.
type cutter struct {
	mu         sync.Mutex
	versions   [][]byte // the file as it is at each request (the last one stays)
	cut, cuts  int      // cut after this many bytes, in this many responses
	validators bool     // send an ETag
	ranges     bool     // honour Range
	requests   int
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	n := c.requests
	c.requests++
	c.mu.Unlock()
	body := c.versions[min(n, len(c.versions)-1)]
	if c.validators {
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, min(n, len(c.versions)-1)))
	}
	from := 0
	if c.ranges {
		w.Header().Set("Accept-Ranges", "bytes")
		if rg := r.Header.Get("Range"); rg != "" && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == w.Header().Get("ETag")) {
			from, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(body)-1, len(body)))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)-from))
			w.WriteHeader(http.StatusPartialContent)
		}
	}
	if from == 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	rest := body[from:]
	if n < c.cuts && c.cut < len(rest) {
		w.Write(rest[:c.cut])
		// Cut the connection mid-body, as a dropped link does.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	w.Write(rest)
}

// flashFrom flashes the image the server serves and returns the result,
// the target and the console.
func flashFrom(t *testing.T, c *cutter, sum string) (Result, []byte, string, error) {
	t.Helper()
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	d := target(t, 8<<20)
	var out bytes.Buffer
	res, err := Run(context.Background(), Job{
		Source: srv.URL + "/disk.img", SHA256: sum, Target: d, Format: catalog.Raw,
		Progress: progress.New(&out, false), RestartBackoff: time.Millisecond, Restarts: 2,
		Sources: source.Options{HTTP: source.HTTPOptions{MaxResumes: 2, Backoff: time.Millisecond}},
	})
	return res, contents(t, d), out.String(), err
}

// A transfer that breaks once where it cannot resume (no validator, so no
// proof the rest is the same file) starts over from byte 0 and writes the
// image whole, saying so (issue 31: one hiccup failed the flash).
func TestRestartFromZero(t *testing.T) {
	img := imagetest.Disk(3<<20, 7)
	c := &cutter{versions: [][]byte{img}, cut: 1 << 20, cuts: 1, ranges: true}
	res, disk, console, err := flashFrom(t, c, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, console)
	}
	if !bytes.Equal(disk[:len(img)], img) || res.Written != int64(len(img)) {
		t.Errorf("the disk does not hold the image (wrote %d)", res.Written)
	}
	if !strings.Contains(console, "starting the image over from byte 0, the disk too (restart 1 of 2)") {
		t.Errorf("the console does not say the transfer started over:\n%s", console)
	}
	if c.requests != 2 {
		t.Errorf("%d requests; want 2 (the cut one, then one from byte 0)", c.requests)
	}
}

// With the sha256 known, a transfer without a validator resumes at its
// offset (the digest decides), with no restart.
func TestResumeWithoutValidatorWhenDigestKnown(t *testing.T) {
	img := imagetest.Disk(3<<20, 8)
	c := &cutter{versions: [][]byte{img}, cut: 1 << 20, cuts: 1, ranges: true}
	res, disk, console, err := flashFrom(t, c, digest(img))
	if err != nil {
		t.Fatalf("%v\n%s", err, console)
	}
	if !bytes.Equal(disk[:len(img)], img) || res.SHA256 != digest(img) || strings.Contains(console, "starting the image over") {
		t.Errorf("resumed flash: sha256 %s, console:\n%s", res.SHA256, console)
	}
}

// A file that changed between attempts is never spliced: the resume is
// refused, the transfer starts over, and the disk holds the new version
// whole.
func TestChangedFileStartsOver(t *testing.T) {
	old, nu := imagetest.Disk(3<<20, 9), imagetest.Disk(3<<20, 10)
	c := &cutter{versions: [][]byte{old, nu}, cut: 1 << 20, cuts: 1, ranges: true, validators: true}
	_, disk, console, err := flashFrom(t, c, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, console)
	}
	if !bytes.Equal(disk[:len(nu)], nu) {
		t.Error("the disk does not hold the new version whole")
	}
	if !strings.Contains(console, "restart 1 of 2") {
		t.Errorf("%d requests; console:\n%s", c.requests, console)
	}
}

// A server that cuts every time gives up after the restarts, loudly.
func TestCutEveryTimeFails(t *testing.T) {
	img := imagetest.Disk(3<<20, 11)
	c := &cutter{versions: [][]byte{img}, cut: 1 << 20, cuts: 1 << 30}
	_, _, console, err := flashFrom(t, c, "")
	kind, unverified := kindOf(err)
	if err == nil || kind != Failed || !unverified || !strings.Contains(err.Error(), "after 2 restarts from byte 0") {
		t.Fatalf("a server that always cuts: %v (kind %v, unverified %v)\n%s", err, kind, unverified, console)
	}
	if c.requests != 3 {
		t.Errorf("%d requests; want 3 (the first and two restarts)", c.requests)
	}
}
