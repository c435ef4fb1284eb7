// Package fleet measures bty-web and bty-tftp when a rack of machines
// powers on at once. Each simulated machine is a goroutine that does what
// a PXE-booting machine does: fetch the iPXE binary over TFTP, then the
// bootstrap and per-MAC scripts, the live kernel, initrd and squashfs, the
// plan, the disk image, with progress and done reports carrying the live
// boot's token from the script, checking the sha256 of every file. The same files, fetched
// the same way from a stock static web server (nginx), are the anchor for
// what the machine can move at all.
package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/webclient"
)

// File is one file a machine fetches, with its digest.
type File struct {
	Path   string // URL path on the server, e.g. /boot/x.vmlinuz
	SHA256 string
	Size   int64
}

// Target is what the clients boot from.
type Target struct {
	Base string // bty-web (or the anchor's) base URL
	// TFTP is bty-tftp's host:port and IPXE the file fetched from it; ""
	// skips the TFTP step (the anchor has none).
	TFTP, IPXE string
	IPXESHA256 string
	Scripts    bool // bty-web: fetch the plan, report status (with the script's token)
	// Bootstrap and Script are the paths of the bootstrap and the per-MAC
	// script ("{mac}" is replaced); on the anchor, static copies of bty's.
	Bootstrap, Script string
	Files             []File // the live trio
	Image             File   // on bty-web its path comes from the plan
	ExpectedScript    string // a string the per-MAC script must contain
	// Phase, if set, is called as each phase starts ("tftp", "scripts",
	// "files") and when the last ends ("done").
	Phase func(name string)
}

// Result is one run's measurements.
type Result struct {
	Clients, Failed int
	Errors          []string // the first few failures
	Bytes           int64    // file bytes received and checked (HTTP)
	FilesWall       time.Duration
	ScriptLatency   []time.Duration // GET /pxe/{mac}, whole request
	FirstByte       []time.Duration // every file's time to the response headers
	TFTPTransfers   int
	TFTPBusy        int64 // transfers refused as busy and retried
	TFTPWall        time.Duration
}

// Throughput is the file bytes moved per second while files moved.
func (r Result) Throughput() float64 {
	if r.FilesWall <= 0 {
		return 0
	}
	return float64(r.Bytes) / r.FilesWall.Seconds()
}

// Percentile is the p-th percentile (0-100) of d, nearest rank.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// MAC is the n-th simulated machine's address.
func MAC(n int) string {
	return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// Run boots n clients against t at once and waits for all of them (or
// ctx's end).
func Run(ctx context.Context, t Target, n int) Result {
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	var (
		mu      sync.Mutex
		res     = Result{Clients: n}
		busy    atomic.Int64
		moved   atomic.Int64
		filesLo time.Time
		filesHi time.Time
		tftpLo  time.Time
		tftpHi  time.Time
		wg      sync.WaitGroup
		fail    = func(err error) {
			mu.Lock()
			defer mu.Unlock()
			res.Failed++
			if len(res.Errors) < 5 {
				res.Errors = append(res.Errors, err.Error())
			}
		}
	)
	span := func(lo, hi *time.Time, a, b time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if lo.IsZero() || a.Before(*lo) {
			*lo = a
		}
		if b.After(*hi) {
			*hi = b
		}
	}
	// All machines power on together: every firmware fetches iPXE over
	// TFTP, every iPXE asks for its scripts, then every machine downloads
	// its live system and image. The phases are kept apart, so that each
	// is measured under its own load and not under the load generator's
	// own hashing of everyone else's downloads (it shares the machine).
	clients := make([]*client, n)
	ok := make([]bool, n)
	phase := func(step func(i int, c *client) error) {
		start := make(chan struct{})
		for i := range clients {
			if clients[i] == nil {
				clients[i], ok[i] = &client{t: t, hc: hc, mac: MAC(i + 1), ctx: ctx}, true
			}
			if !ok[i] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := step(i, clients[i]); err != nil {
					ok[i] = false
					fail(fmt.Errorf("%s: %w", clients[i].mac, err))
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	mark := func(name string) {
		if t.Phase != nil {
			t.Phase(name)
		}
	}
	if t.TFTP != "" {
		mark("tftp")
		phase(func(i int, c *client) error {
			a := time.Now()
			retries, err := c.tftp()
			busy.Add(int64(retries))
			if err != nil {
				return err
			}
			span(&tftpLo, &tftpHi, a, time.Now())
			mu.Lock()
			res.TFTPTransfers++
			mu.Unlock()
			return nil
		})
	}
	if t.Script != "" {
		mark("scripts")
		phase(func(i int, c *client) error {
			return c.scripts(func(script time.Duration) {
				mu.Lock()
				res.ScriptLatency = append(res.ScriptLatency, script)
				mu.Unlock()
			})
		})
	}
	mark("files")
	phase(func(i int, c *client) error {
		return c.download(func(first time.Duration, n int64) {
			moved.Add(n)
			mu.Lock()
			res.FirstByte = append(res.FirstByte, first)
			mu.Unlock()
		}, func(a, b time.Time) { span(&filesLo, &filesHi, a, b) })
	})
	mark("done")
	res.Bytes = moved.Load()
	res.TFTPBusy = busy.Load()
	res.FilesWall = filesHi.Sub(filesLo)
	res.TFTPWall = tftpHi.Sub(tftpLo)
	return res
}

type client struct {
	t   Target
	hc  *http.Client
	mac string
	ctx context.Context
	// token is the live boot's, from the per-MAC script (bty.token=).
	token string
}

// tftp fetches the iPXE binary as a machine's firmware does, with iPXE's
// block size; a transfer refused as busy is tried again after a pause, as
// firmware retries, for up to two minutes. It returns how many tries were
// refused.
func (c *client) tftp() (int, error) {
	tc, err := tftp.NewClient(c.t.TFTP)
	if err != nil {
		return 0, err
	}
	tc.SetBlockSize(1432)
	tc.SetTimeout(2 * time.Second)
	tc.SetRetries(5)
	deadline := time.Now().Add(2 * time.Minute)
	for try := 0; ; try++ {
		var got *bytes.Buffer
		err := func() error {
			wt, err := tc.Receive(c.t.IPXE, "octet")
			if err != nil {
				return err
			}
			got = &bytes.Buffer{}
			_, err = wt.WriteTo(got)
			return err
		}()
		if err != nil && strings.Contains(err.Error(), "busy") && time.Now().Before(deadline) && c.ctx.Err() == nil {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		if err != nil {
			return try, fmt.Errorf("TFTP %s: %w", c.t.IPXE, err)
		}
		if sum := sha256.Sum256(got.Bytes()); hex.EncodeToString(sum[:]) != c.t.IPXESHA256 {
			return try, fmt.Errorf("TFTP %s: wrong sha256", c.t.IPXE)
		}
		return try, nil
	}
}

// scripts asks for the bootstrap and the per-MAC script, as iPXE does.
func (c *client) scripts(script func(time.Duration)) error {
	if _, err := c.text(c.t.Bootstrap); err != nil {
		return err
	}
	a := time.Now()
	s, err := c.text(strings.ReplaceAll(c.t.Script, "{mac}", c.mac))
	if err != nil {
		return err
	}
	script(time.Since(a))
	if !strings.Contains(s, c.t.ExpectedScript) {
		return fmt.Errorf("per-MAC script lacks %q:\n%s", c.t.ExpectedScript, s)
	}
	if c.t.Scripts {
		c.token = webclient.ScriptToken(s)
	}
	return nil
}

// download fetches the live trio (iPXE), the plan and the image (bty auto)
// and reports progress and success.
func (c *client) download(file func(time.Duration, int64), span func(a, b time.Time)) error {
	image := c.t.Image
	a := time.Now()
	defer func() { span(a, time.Now()) }()
	for _, f := range c.t.Files {
		if err := c.fetch(f.Path, f, file); err != nil {
			return err
		}
	}
	if c.t.Scripts {
		var plan provision.Plan
		s, err := c.text("/pxe/" + c.mac + "/plan")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(s), &plan); err != nil || plan.Mode != provision.PlanFlash {
			return fmt.Errorf("plan %s (%v)", s, err)
		}
		if plan.SHA256 != image.SHA256 || !strings.HasPrefix(plan.Image, c.t.Base) {
			return fmt.Errorf("plan names %s (%s), want the image %s", plan.Image, plan.SHA256, image.SHA256)
		}
		image.Path = strings.TrimPrefix(plan.Image, c.t.Base)
		if err := c.report(provision.Status{Status: provision.StatusProgress, Stage: "write", Total: image.Size}); err != nil {
			return err
		}
	}
	if err := c.fetch(image.Path, image, file); err != nil {
		return err
	}
	if c.t.Scripts {
		return c.report(provision.Status{Status: provision.StatusDone, SHA256: image.SHA256})
	}
	return nil
}

// authorize adds the live boot's token, as bty auto does.
func (c *client) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

func (c *client) text(path string) (string, error) {
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.t.Base+path, nil)
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// fetch streams a file through sha256 (nothing is kept: a machine writes
// it to its disk) and checks it.
func (c *client) fetch(path string, f File, file func(time.Duration, int64)) error {
	a := time.Now()
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.t.Base+path, nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	first := time.Since(a)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s after %d bytes: %w", path, n, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != f.SHA256 || n != f.Size {
		return fmt.Errorf("GET %s: %d bytes with the wrong sha256", path, n)
	}
	file(first, n)
	return nil
}

func (c *client) report(st provision.Status) error {
	body, _ := json.Marshal(st)
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodPost, c.t.Base+"/pxe/"+c.mac+"/status", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST status %s: %s", st.Status, resp.Status)
	}
	return nil
}

// ErrFailed marks a run in which a client failed.
var ErrFailed = errors.New("clients failed")
