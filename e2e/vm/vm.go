// Package vm holds what the boot tests share about running QEMU here.
package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Accel picks QEMU's accelerator: BTY_QEMU_ACCEL if set, else KVM when it
// really works, else TCG (software emulation). "Works" is proven by booting
// kernel under KVM until it panics for want of an init: a /dev/kvm that
// opens but cannot run a guest (seen under nested virtualization: "KVM
// internal error ... emulation failure") must not hang the test.
func Accel(qemu, kernel string) string {
	once.Do(func() { accel = probe(qemu, kernel) })
	return accel
}

// The probe runs once per process: a test booting twice pays for it once.
var (
	once  sync.Once
	accel string
)

func probe(qemu, kernel string) string {
	if a := os.Getenv("BTY_QEMU_ACCEL"); a != "" {
		return a
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "128", "-nographic", "-no-reboot",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1 init=/bty-kvm-probe")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	if strings.Contains(out.String(), "Kernel panic") && !strings.Contains(out.String(), "KVM internal error") {
		return "kvm"
	}
	return "tcg"
}

// Console records a VM's serial output line by line with the time each
// line started (relative to Start), optionally copying it to File.
type Console struct {
	Start time.Time
	File  io.Writer

	mu    sync.Mutex
	lines []string
	at    []time.Duration
}

// NewConsole starts recording now.
func NewConsole(file io.Writer) *Console { return &Console{Start: time.Now(), File: file} }

func (c *Console) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.File != nil {
		c.File.Write(b)
	}
	for _, part := range strings.SplitAfter(string(b), "\n") {
		if part == "" {
			continue
		}
		if n := len(c.lines); n > 0 && !strings.HasSuffix(c.lines[n-1], "\n") {
			c.lines[n-1] += part
			continue
		}
		c.lines = append(c.lines, part)
		c.at = append(c.at, time.Since(c.Start))
	}
	return len(b), nil
}

// Find returns the index and start time of the first line at or after from
// that contains marker, or -1.
func (c *Console) Find(from int, marker string) (int, time.Duration) {
	return c.FindStage(from, Literal(marker))
}

// FindStage returns the index and start time of the first line at or after
// from that shows stage s, or -1.
func (c *Console) FindStage(from int, s Stage) (int, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := from; i < len(c.lines); i++ {
		if s.match.MatchString(c.lines[i]) {
			return i, c.at[i]
		}
	}
	return -1, 0
}

// modulesLoaded is bty-init's report of the kernel modules it loaded, of
// those its initrd lists.
var modulesLoaded = regexp.MustCompile(`bty-init: loaded (\d+) of (\d+) kernel modules`)

// AllModulesLoaded checks that bty-init said it loaded every module its
// initrd lists (none refused, for instance by a locked-down kernel).
func (c *Console) AllModulesLoaded(t TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, line := range c.lines {
		if m := modulesLoaded.FindStringSubmatch(line); m != nil {
			if m[1] != m[2] || m[2] == "0" {
				t.Fatalf("bty-init loaded %s of %s kernel modules:\n%s", m[1], m[2], line)
			}
			return
		}
	}
	t.Fatalf("bty-init did not report the kernel modules it loaded")
}

// A Stage is a step of a boot as the console shows it: what firmware and
// programs really print, not one rendering of it.
type Stage struct {
	Name  string
	match *regexp.Regexp
}

// Literal is a stage shown by a fixed text anywhere in a line.
func Literal(text string) Stage {
	return Stage{Name: text, match: regexp.MustCompile(regexp.QuoteMeta(text))}
}

// Download is iPXE fetching a file whose URL contains file, successfully.
// iPXE prints "<url>... ok" when the transfer is fast, and progress in
// between when it is slow ("<url>... 54%     ok", redrawn with \r, \b or
// escape sequences on the same line); a failure ends in an error text, not
// "ok".
func Download(file string) Stage {
	return Stage{Name: file + "... ok", match: regexp.MustCompile(regexp.QuoteMeta(file) + `\S*\.\.\.[^\n]*\bok\b`)}
}

// TB is the part of testing.TB that the harness needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
}

// Stages asserts that the stages appear in order and returns the timeline:
// each stage with the time its line started.
func (c *Console) Stages(t TB, stages ...Stage) string {
	t.Helper()
	var b strings.Builder
	from := 0
	for _, s := range stages {
		i, at := c.FindStage(from, s)
		if i < 0 {
			t.Fatalf("stage %q not reached; console from the last stage reached on:\n%s", s.Name, c.Lines(from, 150))
		}
		fmt.Fprintf(&b, "  %7.2fs  %s\n", at.Seconds(), s.Name)
		from = i
	}
	return b.String()
}

// Lines returns up to n lines starting at line i.
func (c *Console) Lines(i, n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	i = min(max(i, 0), len(c.lines))
	return strings.Join(c.lines[i:min(len(c.lines), i+n)], "")
}

// Tail returns the last n lines.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	l := len(c.lines)
	c.mu.Unlock()
	return c.Lines(l-n, n)
}
