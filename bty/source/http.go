package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// HTTPOptions tune http(s) sources.
type HTTPOptions struct {
	// Client is used for every request; nil means a client with sane
	// timeouts for the connection phase (a stream itself may take hours).
	Client *http.Client
	// MaxResumes bounds how many times a dropped transfer is resumed.
	MaxResumes int
	// Backoff is the wait before the first resume; it doubles each time.
	Backoff time.Duration
	// IdleTimeout bounds how long a transfer may go without receiving a
	// byte before the connection is dropped and resumed; 0 means 60 s. An
	// unattended flash must never hang on a server that went silent.
	IdleTimeout time.Duration
	// Log, if set, is told about each resume.
	Log func(format string, args ...any)
	// DigestKnown says the caller checks the whole file's sha256: a
	// transfer from a server that sends no ETag or Last-Modified may then
	// resume too, and the final digest decides whether the pieces are one
	// file.
	DigestKnown bool
}

// ErrNotResumable marks a transfer that broke and could not be resumed at
// the exact offset.
var ErrNotResumable = errors.New("transfer interrupted and cannot be resumed")

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// HTTP/1.1 only: one TCP stream per transfer, Range resumes behave the
	// same on every server, and no HTTP/2 flow control stalls a large body.
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = nil
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: t}
}

// httpReader reads one URL from start to end, resuming with Range requests.
type httpReader struct {
	ctx       context.Context
	opts      HTTPOptions
	url       string
	body      io.ReadCloser
	idle      *idleBody // the current response's body, under the idle timer
	off       int64
	size      int64  // -1 if the server sent no Content-Length
	validator string // strong ETag or Last-Modified, for If-Range
	ranges    bool   // the server advertised Accept-Ranges: bytes
	resumes   int
}

func openHTTP(ctx context.Context, rawURL string, opts HTTPOptions) (*Source, error) {
	if opts.Client == nil {
		opts.Client = defaultClient()
	}
	if opts.MaxResumes == 0 {
		opts.MaxResumes = 5
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("image URL: %w", err)
	}
	r := &httpReader{ctx: ctx, opts: opts, url: rawURL, size: -1}
	resp, err := r.get(-1)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("fetching %s: %s", redact(u), resp.Status)
	}
	r.body = resp.Body
	r.size = resp.ContentLength
	r.ranges = strings.EqualFold(resp.Header.Get("Accept-Ranges"), "bytes")
	r.validator = validatorOf(resp)
	src := &Source{ReadCloser: r, Name: path.Base(u.Path), Size: r.size}
	if r.ranges && r.size > 0 && r.validator != "" {
		src.Tail = r.tail
	}
	return src, nil
}

// tail fetches the last n bytes of the same version of the file with a
// second, ranged request.
func (r *httpReader) tail(n int64) ([]byte, error) {
	n = min(n, r.size)
	t := &httpReader{ctx: r.ctx, opts: r.opts, url: r.url, size: r.size, validator: r.validator, off: r.size - n}
	resp, err := t.get(t.off)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := t.checkResumed(resp); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, n))
}

// validatorOf returns what identifies the version of the file a response
// carries: a strong ETag, else Last-Modified, else "".
func validatorOf(resp *http.Response) string {
	if etag := resp.Header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	return resp.Header.Get("Last-Modified")
}

// get issues a GET, from offset from (a Range request) when from >= 0. The
// response's body is cut when no byte arrives for the idle timeout.
func (r *httpReader) get(from int64) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	// The bytes as stored: their digest is what the catalog pins.
	req.Header.Set("Accept-Encoding", "identity")
	if from >= 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
		if r.validator != "" {
			req.Header.Set("If-Range", r.validator)
		}
	}
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		cancel()
		u, _ := url.Parse(r.url)
		return nil, fmt.Errorf("fetching %s: %w", redact(u), unwrapURLError(err))
	}
	r.idle = newIdleBody(resp.Body, r.opts.IdleTimeout, cancel)
	resp.Body = r.idle
	return resp, nil
}

func (r *httpReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF) && (r.size < 0 || r.off == r.size):
			return n, io.EOF
		case errors.Is(err, io.EOF):
			err = io.ErrUnexpectedEOF
		case r.idle != nil && r.idle.timedOut():
			err = fmt.Errorf("no data for %s", r.opts.IdleTimeout)
		}
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		if rerr := r.resume(err); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume reopens the transfer at r.off, or explains why it cannot.
func (r *httpReader) resume(cause error) error {
	r.body.Close()
	if !r.ranges || r.size < 0 {
		return fmt.Errorf("%w: connection lost at byte %d (%v), and the server does not support byte ranges, so the transfer cannot continue where it stopped", ErrNotResumable, r.off, cause)
	}
	if r.validator == "" && r.off > 0 && !r.opts.DigestKnown {
		// Without an ETag or Last-Modified nothing proves that the bytes
		// of a second request belong to the same file as the first's
		// (unless the caller checks the whole file's digest).
		return fmt.Errorf("%w: connection lost at byte %d (%v), and the server sent no ETag or Last-Modified, so a resumed transfer could not be proven to be the same file", ErrNotResumable, r.off, cause)
	}
	for r.resumes < r.opts.MaxResumes {
		wait := r.opts.Backoff << r.resumes
		r.resumes++
		if r.opts.Log != nil {
			r.opts.Log("connection lost at byte %d of %d (%v); resuming with a Range request (attempt %d of %d)", r.off, r.size, cause, r.resumes, r.opts.MaxResumes)
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(wait):
		}
		from := r.off
		if from == 0 {
			// Nothing was read yet: asking again for the whole file is safe.
			from = -1
		}
		resp, err := r.get(from)
		if err != nil {
			cause = err
			continue
		}
		if err := r.checkResumed(resp); err != nil {
			resp.Body.Close()
			return err
		}
		r.body = resp.Body
		return nil
	}
	return fmt.Errorf("%w: connection lost at byte %d of %d and %d resume attempts failed; last error: %v", ErrNotResumable, r.off, r.size, r.opts.MaxResumes, cause)
}

// checkResumed accepts only a 206 for exactly the bytes from r.off to the end
// of the same file.
func (r *httpReader) checkResumed(resp *http.Response) error {
	if r.off == 0 && resp.StatusCode == http.StatusOK && resp.ContentLength == r.size {
		return r.checkValidator(resp)
	}
	if resp.StatusCode != http.StatusPartialContent {
		// 200 means the server ignored Range (or the file changed and
		// If-Range failed): it would send byte 0 again.
		return fmt.Errorf("%w: resuming at byte %d, the server answered %s instead of 206 Partial Content (file changed or ranges unsupported)", ErrNotResumable, r.off, resp.Status)
	}
	want := fmt.Sprintf("bytes %d-%d/%d", r.off, r.size-1, r.size)
	if got := resp.Header.Get("Content-Range"); got != want {
		return fmt.Errorf("%w: resuming at byte %d, the server sent Content-Range %q, want %q", ErrNotResumable, r.off, got, want)
	}
	return r.checkValidator(resp)
}

// checkValidator refuses a response from another version of the file: a
// server that ignores If-Range may answer 206 from a changed file, and the
// two versions must never be spliced.
func (r *httpReader) checkValidator(resp *http.Response) error {
	if got := validatorOf(resp); got != r.validator {
		return fmt.Errorf("%w: resuming at byte %d, the file changed on the server (validator %q, was %q); the two versions must not be spliced", ErrNotResumable, r.off, got, r.validator)
	}
	return nil
}

// idleBody cuts a response body (by cancelling its request) when no byte
// has arrived for the timeout.
type idleBody struct {
	io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	fired   atomic.Bool
}

func newIdleBody(body io.ReadCloser, timeout time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{ReadCloser: body, timeout: timeout, cancel: cancel}
	b.timer = time.AfterFunc(timeout, func() {
		b.fired.Store(true)
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.fired.Load() {
		b.timer.Reset(b.timeout)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// timedOut reports whether the body was cut for being idle.
func (b *idleBody) timedOut() bool { return b.fired.Load() }

func (r *httpReader) Close() error { return r.body.Close() }

// redact drops credentials and the query (which may hold a token) from a URL
// for messages.
func redact(u *url.URL) string {
	if u == nil {
		return "image URL"
	}
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "…"
	}
	return c.String()
}

// unwrapURLError drops *url.Error's wrapping, which repeats the full URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
