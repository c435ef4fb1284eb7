// Package flash writes an image onto a whole disk: fetch, verify, decode,
// write, fsync, in that order of guarantees.
//
// The sha256 is computed over the bytes as fetched. Streamed formats are
// written while they arrive, so a digest mismatch is only known at the end:
// the error then says loudly that the disk holds unverified data. qcow2
// needs random access, so it is fetched (or read) and verified in full
// before the first byte is written.
package flash

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/decode"
	"github.com/bty-lab/bty/bty/disk"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/qcow2"
	"github.com/bty-lab/bty/bty/source"
)

// Kind classifies a failure; the CLI maps it to an exit code.
type Kind int

// Kinds of failure, matching exit codes 2, 3 and 4 of "The flasher" in docs/design.md.
const (
	NoTarget Kind = iota + 2 // the target disk does not exist
	Refused                  // validation refused; nothing was written
	Failed                   // a write or integrity failure
)

// Error is a flash failure of some Kind.
type Error struct {
	Kind Kind
	// Unverified is set when bytes reached the target before the failure:
	// the disk holds partial or unverified data.
	Unverified bool
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func refused(format string, args ...any) error {
	return &Error{Kind: Refused, Err: fmt.Errorf(format, args...)}
}

// Job is one flash.
type Job struct {
	Source string         // path, http(s):// URL or oras:// reference
	SHA256 string         // expected digest of the bytes as fetched, if known
	Format catalog.Format // empty: derived from the source's name
	Target disk.Disk
	// Progress receives download and write progress; nil reports nothing.
	Progress *progress.Reporter
	Sources  source.Options
	// TempDir holds a remote qcow2 while it is verified; "" means os.TempDir.
	TempDir string
	// BufferSize is the size of each write; 0 means 4 MiB.
	BufferSize int
	// Hash computes the sha256 of the fetched bytes even when SHA256 is
	// empty (it always is computed when SHA256 is set).
	Hash bool
	// Restarts bounds how many times a transfer that broke and could not
	// resume at its offset is started again from byte 0, the target too;
	// 0 means DefaultRestarts, a negative number none.
	Restarts int
	// RestartBackoff is the wait before the first restart; it doubles
	// each time. 0 means 2 s.
	RestartBackoff time.Duration
	// OnRestart, if set, is told of each restart before it begins (bty
	// auto tells bty-web).
	OnRestart func(Restart)
}

// DefaultRestarts is how many times a broken transfer starts over.
const DefaultRestarts = 3

// Restart is one start over of a transfer that broke.
type Restart struct {
	Attempt, Of int   // the restart's number, and how many may be made
	Cause       error // why the transfer could not go on
}

// String says what happens, for the console and the status report.
func (r Restart) String() string {
	return fmt.Sprintf("%v; starting the image over from byte 0, the disk too (restart %d of %d)", r.Cause, r.Attempt, r.Of)
}

// hasher returns the digest to compute over the fetched bytes: sha256 when
// one is expected (or asked for), none otherwise, so an unverified flash is
// not slowed down by hashing it cannot check against anything.
func (job *Job) hasher() hash.Hash {
	if job.SHA256 == "" && !job.Hash {
		return nil
	}
	return sha256.New()
}

// Result describes a successful flash.
type Result struct {
	Format  catalog.Format
	Fetched int64  // bytes fetched
	Written int64  // bytes written to the target
	SHA256  string // digest of the fetched bytes; "" when not computed
	Elapsed time.Duration
}

// Run performs the job. A transfer that breaks where it cannot resume at
// its offset (source.ErrNotResumable: a server without byte ranges, no
// way to prove the rest is the same file, or one that keeps cutting) is
// started again from byte 0, writing the target from its first byte, at
// most Restarts times with a growing wait; never appended at the offset
// it broke at.
func Run(ctx context.Context, job Job) (Result, error) {
	start := time.Now()
	restarts, wait := job.Restarts, job.RestartBackoff
	if restarts == 0 {
		restarts = DefaultRestarts
	}
	if wait == 0 {
		wait = 2 * time.Second
	}
	if job.SHA256 != "" {
		job.Sources.HTTP.DigestKnown = true
	}
	for attempt := 1; ; attempt++ {
		res, err := job.run(ctx)
		res.Elapsed = time.Since(start)
		if err == nil || !errors.Is(err, source.ErrNotResumable) || attempt > restarts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d restarts from byte 0)", err, attempt-1)
			}
			return res, err
		}
		r := Restart{Attempt: attempt, Of: restarts, Cause: err}
		if job.Progress != nil {
			job.Progress.Marker("bty: %v", r)
		}
		if job.OnRestart != nil {
			job.OnRestart(r)
		}
		select {
		case <-ctx.Done():
			return res, &Error{Kind: Failed, Unverified: res.Written > 0, Err: fmt.Errorf("interrupted before restart %d: %w%s", attempt, ctx.Err(), partial(res.Written))}
		case <-time.After(wait << (attempt - 1)):
		}
	}
}

// run is one attempt of the job, from byte 0.
func (job Job) run(ctx context.Context) (Result, error) {
	if job.Progress == nil {
		job.Progress = progress.Discard()
	}
	if job.BufferSize == 0 {
		job.BufferSize = 4 << 20
	}
	if job.BufferSize%align != 0 {
		return Result{}, fmt.Errorf("buffer size %d is not a multiple of %d", job.BufferSize, align)
	}
	if job.SHA256 != "" && !catalog.IsSHA256(job.SHA256) {
		return Result{}, refused("--sha256 %q must be 64 lower-case hex digits", job.SHA256)
	}
	if err := job.Target.Check(-1); err != nil {
		return Result{}, &Error{Kind: Refused, Err: err}
	}
	src, err := source.Open(ctx, job.Source, job.Sources)
	if err != nil {
		return Result{}, &Error{Kind: Refused, Err: err}
	}
	defer src.Close()
	format := job.Format
	if format == "" {
		if format, err = catalog.FormatFromName(src.Name); err != nil {
			return Result{}, &Error{Kind: Refused, Err: fmt.Errorf("image %s: %w; pass --format to override", job.Source, err)}
		}
	}
	var res Result
	if format == catalog.QCOW2 {
		res, err = job.runQCOW2(ctx, src)
	} else {
		res, err = job.runStream(ctx, src, format)
	}
	res.Format = format
	return res, err
}

func (job *Job) runStream(ctx context.Context, src *source.Source, format catalog.Format) (Result, error) {
	dl := job.Progress.Counter("download", src.Size)
	fetched := newFetchPipe(src, job.hasher(), dl)
	defer fetched.Close()
	br := bufio.NewReaderSize(fetched, 64<<10)

	// Refuse a target that is certainly too small before writing: raw
	// images have their size, zstd frames usually declare theirs.
	size := int64(-1)
	switch format {
	case catalog.Raw:
		size = src.Size
	case catalog.Zstd:
		var h zstd.Header
		if head, _ := br.Peek(zstd.HeaderMaxSize); h.Decode(head) == nil && h.HasFCS {
			size = int64(h.FrameContentSize) // a lower bound if there are more frames
		}
	default:
		size = decode.DecodedSize(format, src.Tail) // a lower bound
	}
	if err := job.Target.Check(size); err != nil {
		if format == catalog.Gzip {
			// ISIZE has no checksum: a file cut short ends in garbage.
			err = fmt.Errorf("%w (the size is read from the gzip trailer; if the file was cut short the trailer is garbage: check its sha256)", err)
		}
		return Result{}, &Error{Kind: Refused, Err: err}
	}
	if format == catalog.Gzip {
		size = -1 // ISIZE is modulo 4 GiB: no base for progress
	}
	if src.Size == 0 {
		return Result{}, refused("image %s is empty (0 bytes); nothing was written to %s", job.Source, job.Target.Path)
	}
	dec, err := decode.Stream(format, br)
	if err != nil {
		return Result{}, &Error{Kind: Refused, Err: fmt.Errorf("image %s: %w", job.Source, err)}
	}
	defer dec.Close()

	wr := job.Progress.Counter("write", size)
	if size < 0 {
		wr.Follow(dl.Fraction)
	}
	written, err := job.write(ctx, dec, wr, fetched.Close)
	if err != nil {
		return Result{Written: written}, err
	}
	if written == 0 {
		return Result{}, refused("image %s decodes to 0 bytes; nothing was written to %s", job.Source, job.Target.Path)
	}
	// The hash covers every fetched byte, including any the decoder did not
	// need (a trailer, padding).
	if _, err := io.Copy(io.Discard, br); err != nil {
		return Result{Written: written}, &Error{Kind: Failed, Unverified: true, Err: fmt.Errorf("reading the rest of %s: %w; the target holds unverified data", job.Source, err)}
	}
	dl.Done()
	res := Result{Fetched: fetched.Fetched(), Written: written, SHA256: fetched.Sum()}
	if src.Size >= 0 && res.Fetched != src.Size {
		return res, &Error{Kind: Failed, Unverified: true, Err: fmt.Errorf("fetched %d bytes of %s, expected %d; the target %s holds UNVERIFIED data", res.Fetched, job.Source, src.Size, job.Target.Path)}
	}
	if job.SHA256 != "" && res.SHA256 != job.SHA256 {
		return res, &Error{Kind: Failed, Unverified: true, Err: fmt.Errorf(
			"sha256 mismatch for %s: got %s, expected %s. The target %s now holds UNVERIFIED data: do not boot it; flash it again from a good source",
			job.Source, res.SHA256, job.SHA256, job.Target.Path)}
	}
	return res, nil
}

func (job *Job) runQCOW2(ctx context.Context, src *source.Source) (Result, error) {
	dl := job.Progress.Counter("download", src.Size)
	fetched := newFetchPipe(src, job.hasher(), dl)
	defer fetched.Close()
	file := src.File
	if file != nil {
		// A local image: read it once for the digest, then use it in place.
		if _, err := io.Copy(io.Discard, fetched); err != nil {
			return Result{}, &Error{Kind: Refused, Err: fmt.Errorf("reading %s: %w", job.Source, err)}
		}
	} else {
		// A remote image is spooled to disk, then read at random.
		tmp, err := os.CreateTemp(job.TempDir, "bty-*.qcow2")
		if err != nil {
			return Result{}, &Error{Kind: Failed, Err: fmt.Errorf("creating a temporary file for %s: %w", job.Source, err)}
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, fetched); err != nil {
			return Result{}, &Error{Kind: Failed, Err: fmt.Errorf("fetching %s: %w; nothing was written to %s", job.Source, err, job.Target.Path)}
		}
		file = tmp
	}
	dl.Done()
	res := Result{Fetched: fetched.Fetched(), SHA256: fetched.Sum()}
	if job.SHA256 != "" && res.SHA256 != job.SHA256 {
		return res, &Error{Kind: Failed, Err: fmt.Errorf("sha256 mismatch for %s: got %s, expected %s; nothing was written to %s", job.Source, res.SHA256, job.SHA256, job.Target.Path)}
	}
	img, err := qcow2.Open(file, res.Fetched)
	if err != nil {
		return res, &Error{Kind: Refused, Err: fmt.Errorf("image %s: %w", job.Source, err)}
	}
	defer img.Close()
	if img.Size() == 0 {
		return res, refused("image %s has a virtual size of 0 bytes; nothing was written to %s", job.Source, job.Target.Path)
	}
	if err := job.Target.Check(img.Size()); err != nil {
		return res, &Error{Kind: Refused, Err: err}
	}
	wr := job.Progress.Counter("write", img.Size())
	res.Written, err = job.write(ctx, io.NewSectionReader(img, 0, img.Size()), wr, nil)
	return res, err
}

// write copies r to the target through a pipeline of aligned buffers: one
// goroutine reads (and decodes) while the caller's writes the previous
// buffer, so fetch, decode and disk I/O overlap. It ends with an fsync.
// abort, if set, unblocks a read in progress when write returns early; the
// reading goroutine has always finished when write returns.
func (job *Job) write(ctx context.Context, r io.Reader, counter *progress.Counter, abort func()) (int64, error) {
	dev, err := openDevice(job.Target.Path)
	if err != nil {
		return 0, err
	}
	defer dev.Close()

	const depth = 3
	free := make(chan []byte, depth)
	for range depth {
		free <- buffer(job.BufferSize)
	}
	type chunk struct {
		buf []byte
		n   int
		err error // io.EOF at the end
	}
	full := make(chan chunk, depth)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	finished := false
	defer func() {
		close(stop)
		if !finished && abort != nil {
			abort()
		}
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		for {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			n, err := fill(r, b)
			select {
			case full <- chunk{b, n, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	var off int64
	fail := func(err error) (int64, error) {
		return off, &Error{Kind: Failed, Unverified: off > 0, Err: err}
	}
	for {
		var c chunk
		select {
		case c = <-full:
		case <-ctx.Done():
			return fail(fmt.Errorf("interrupted after writing %d bytes to %s: %w%s", off, job.Target.Path, ctx.Err(), partial(off)))
		}
		if c.n > 0 {
			if off+int64(c.n) > job.Target.Size {
				return fail(fmt.Errorf("the image is larger than %s (%d bytes); stopped after writing %d bytes%s", job.Target.Path, job.Target.Size, off, partial(off)))
			}
			if err := dev.WriteAt(c.buf[:c.n], off); err != nil {
				return fail(err)
			}
			off += int64(c.n)
			counter.Add(int64(c.n))
		}
		if c.err != nil && !errors.Is(c.err, io.EOF) {
			return fail(fmt.Errorf("reading image %s after %d bytes: %w%s", job.Source, off, c.err, partial(off)))
		}
		if c.err != nil {
			break
		}
		free <- c.buf
	}
	// The reader saw the end of the image and has returned (or will, after
	// its final send): no abort needed, the rest of the source stays readable.
	finished = true
	if err := dev.Sync(); err != nil {
		return fail(err)
	}
	counter.Done()
	return off, nil
}

// fill reads until b is full or r ends. Unlike io.ReadFull it keeps a
// decoder's own io.ErrUnexpectedEOF (a truncated stream) distinct from the
// plain io.EOF that ends a good one.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// partial says what a failure left on the target, truthfully.
func partial(written int64) string {
	if written == 0 {
		return "; nothing was written to the target"
	}
	return fmt.Sprintf("; the target holds %d bytes of partial data: do not boot it", written)
}
