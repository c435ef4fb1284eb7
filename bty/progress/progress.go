// Package progress reports long work as people and machines need it: a
// live bar on a terminal, and marker lines ("bty: download 25%") at 25, 50,
// 75 and 100 percent everywhere else. Markers are what the boot tests read
// on a serial console, so their text is part of bty's contract.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reporter writes progress to one output and mirrors marker lines to any
// number of consoles (the live environment's /dev/console and /dev/kmsg).
type Reporter struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	mirrors []io.Writer
	now     func() time.Time
	barOpen bool // a bar line is on screen without its newline
	watch   func(Update)
}

// Update is a stage's progress, for callers that draw it themselves.
type Update struct {
	Stage    string
	Done     int64
	Total    int64   // < 0: unknown
	Fraction float64 // 0 to 1, or -1 if unknown
	Elapsed  time.Duration
}

// Watch makes every change of every counter call f, after the markers are
// written. f runs under the counter's lock and must not block.
func (r *Reporter) Watch(f func(Update)) { r.watch = f }

// New returns a Reporter writing to out; tty selects the live bar.
func New(out io.Writer, tty bool, mirrors ...io.Writer) *Reporter {
	return &Reporter{out: out, tty: tty, mirrors: mirrors, now: time.Now}
}

// Discard reports nothing.
func Discard() *Reporter { return New(io.Discard, false) }

// Marker prints one line to the output and every mirror.
func (r *Reporter) Marker(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.barOpen {
		fmt.Fprintln(r.out)
		r.barOpen = false
	}
	fmt.Fprintln(r.out, line)
	for _, m := range r.mirrors {
		// A console that went away must not stop a flash.
		_, _ = io.WriteString(m, line+"\n")
	}
}

// Counter tracks one stage ("download", "write") of total bytes.
type Counter struct {
	r      *Reporter
	stage  string
	total  int64
	proxy  func() float64
	mu     sync.Mutex
	done   int64
	marked int // highest quarter reported, 0-4
	start  time.Time
	drawn  time.Time
}

// Counter starts a stage of total bytes (total < 0: unknown).
func (r *Reporter) Counter(stage string, total int64) *Counter {
	return &Counter{r: r, stage: stage, total: total, start: r.now()}
}

// Follow makes a counter of unknown total report the fraction f returns
// instead, e.g. a decompressed write following its compressed download.
func (c *Counter) Follow(f func() float64) { c.proxy = f }

// Fraction is the share done, 0 to 1, or -1 if unknown.
func (c *Counter) Fraction() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fraction()
}

func (c *Counter) fraction() float64 {
	switch {
	case c.total > 0:
		return min(float64(c.done)/float64(c.total), 1)
	case c.total == 0:
		return 1
	case c.proxy != nil:
		return c.proxy()
	}
	return -1
}

// Add records n more bytes done.
func (c *Counter) Add(n int64) {
	c.mu.Lock()
	c.done += n
	f := c.fraction()
	c.report(f, false)
	c.mu.Unlock()
}

// Done records the stage as complete (100%).
func (c *Counter) Done() {
	c.mu.Lock()
	c.report(1, true)
	c.mu.Unlock()
}

// report prints quarter markers (off a terminal) or redraws the bar.
func (c *Counter) report(f float64, final bool) {
	if c.r.watch != nil {
		defer c.r.watch(Update{Stage: c.stage, Done: c.done, Total: c.total, Fraction: f, Elapsed: c.r.now().Sub(c.start)})
	}
	if f < 0 {
		return
	}
	// Markers go to the console mirrors in every mode; to the output only
	// when it is not a terminal (there the bar says the same).
	for q := c.marked + 1; q <= 4 && f >= float64(q)/4; q++ {
		c.marked = q
		line := fmt.Sprintf("bty: %s %d%%", c.stage, q*25)
		if c.r.tty {
			c.r.mirror(line)
		} else {
			c.r.Marker("%s", line)
		}
	}
	if !c.r.tty {
		return
	}
	now := c.r.now()
	if !final && now.Sub(c.drawn) < 200*time.Millisecond {
		return
	}
	c.drawn = now
	c.r.bar(c.stage, f, c.done, c.total, now.Sub(c.start), final)
}

func (r *Reporter) mirror(line string) {
	for _, m := range r.mirrors {
		_, _ = io.WriteString(m, line+"\n")
	}
}

func (r *Reporter) bar(stage string, f float64, done, total int64, elapsed time.Duration, final bool) {
	const width = 30
	filled := int(f * width)
	rate := ""
	if s := elapsed.Seconds(); s > 0.5 {
		rate = " " + Bytes(int64(float64(done)/s)) + "/s"
	}
	size := Bytes(done)
	if total > 0 {
		size += "/" + Bytes(total)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "\r%-8s [%s%s] %3d%% %s%s\033[K", stage, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), int(f*100), size, rate)
	r.barOpen = !final
	if final {
		fmt.Fprintln(r.out)
	}
}

// Bytes formats a byte count for people: "1.5 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Consoles opens the live environment's consoles for marker mirroring:
// /dev/console and /dev/kmsg, where present and writable. The caller closes
// them.
// /dev/console is skipped when stderr already is the console (as under
// bty-init), so each marker appears there once; lines go to the kernel log
// at debug level, so the kernel does not echo them to the console again.
func Consoles() []io.WriteCloser {
	var out []io.WriteCloser
	if !IsConsole(os.Stderr) {
		if f, err := os.OpenFile("/dev/console", os.O_WRONLY|os.O_APPEND, 0); err == nil {
			out = append(out, f)
		}
	}
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY|os.O_APPEND, 0); err == nil {
		out = append(out, kmsg{f})
	}
	return out
}

// IsConsole reports whether f is the system console: /dev/console itself,
// or the terminal /dev/console writes to (ttyS0 when opened as
// /dev/ttyS0, as bty-init does for the wizard), so a line written to both
// would show twice.
func IsConsole(f *os.File) bool {
	dev, ok := rdev(f)
	if !ok {
		return false
	}
	c, err := os.OpenFile("/dev/console", os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return false
	}
	defer c.Close()
	if cdev, ok := rdev(c); ok && cdev == dev {
		return true
	}
	// TIOCGDEV names the terminal behind /dev/console, in the kernel's
	// dev_t encoding (new_encode_dev).
	t, err := unix.IoctlGetUint32(int(c.Fd()), unix.TIOCGDEV)
	if err != nil {
		return false
	}
	major, minor := (t&0xfff00)>>8, (t&0xff)|((t>>12)&0xfff00)
	return unix.Major(dev) == major && unix.Minor(dev) == minor
}

// kmsg writes each line as one kernel log record of level 7 (debug).
type kmsg struct{ f *os.File }

func (k kmsg) Write(b []byte) (int, error) {
	if _, err := k.f.Write(append([]byte("<7>"), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (k kmsg) Close() error { return k.f.Close() }

// rdev is the device number of the character device f.
func rdev(f *os.File) (uint64, bool) {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Rdev, true
}
