// Command bench measures bty against dd on a real loop device:
//
//	tools/bazel run //e2e/flash/bench [-- -size 1073741824 -runs 3]
//
// It writes the same 1 GiB disk-like image, raw, zstd- and xz-compressed, with
// `bty flash` and with `dd bs=4M oflag=direct conv=fsync` (behind
// `zstd -dc |` or `xz -dc |` for the compressed ones), alternating runs on one loop
// device, and prints the median times, the throughput ratios and bty's
// peak RSS. Targets: raw >= 0.95x dd, zstd >= 1.0x the zstd|dd pipeline,
// peak RSS < 64 MiB.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bazelbuild/rules_go/go/runfiles"

	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/loopdev"
)

func main() {
	size := flag.Int64("size", 1<<30, "image size in bytes")
	runs := flag.Int("runs", 3, "runs of each command (the median counts)")
	dir := flag.String("dir", "/var/tmp", "where the image and the loop device's backing file live (not tmpfs)")
	flag.Parse()
	if err := run(*size, *runs, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(size int64, runs int, dir string) error {
	if err := loopdev.Available(); err != nil {
		return err
	}
	bty, err := runfiles.Rlocation(os.Getenv("BTY_BINARY"))
	if err != nil {
		return err
	}
	for _, tool := range []string{"dd", "zstd", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	work, err := os.MkdirTemp(dir, "bty-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Printf("generating a %s disk-like image in %s\n", human(size), work)
	raw := filepath.Join(work, "disk.img")
	if err := writeImage(raw, size); err != nil {
		return err
	}
	zst := raw + ".zst"
	if out, err := exec.Command("zstd", "-q", "-T0", "-3", "-o", zst, raw).CombinedOutput(); err != nil {
		return fmt.Errorf("zstd: %v\n%s", err, out)
	}
	if st, err := os.Stat(zst); err == nil {
		fmt.Printf("zstd image: %s (%.1f%% of raw)\n", human(st.Size()), 100*float64(st.Size())/float64(size))
	}
	// xz -T0 as people make big images: blocks that declare their sizes,
	// which bty decodes on every core (like xz -dc -T0 would).
	xzf := raw + ".xz"
	if out, err := exec.Command("xz", "-q", "-k", "-T0", "-1", raw).CombinedOutput(); err != nil {
		return fmt.Errorf("xz: %v\n%s", err, out)
	}
	if st, err := os.Stat(xzf); err == nil {
		fmt.Printf("xz image: %s (%.1f%% of raw)\n", human(st.Size()), 100*float64(st.Size())/float64(size))
	}
	backing := filepath.Join(work, "backing")
	if err := os.Truncate(backing, 0); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.Create(backing)
	if err != nil {
		return err
	}
	if err := f.Truncate(size + 64<<20); err != nil {
		return err
	}
	f.Close()
	dev, err := loopdev.Attach(backing, false)
	if err != nil {
		return err
	}
	defer dev.Detach()

	dd := fmt.Sprintf("dd if=%s of=%s bs=4M oflag=direct conv=fsync status=none", raw, dev.Path)
	zdd := fmt.Sprintf("zstd -dc %s | dd of=%s bs=4M iflag=fullblock oflag=direct conv=fsync status=none", zst, dev.Path)
	xdd := fmt.Sprintf("xz -dc %s | dd of=%s bs=4M iflag=fullblock oflag=direct conv=fsync status=none", xzf, dev.Path)
	rawSum, err := digest(raw, size)
	if err != nil {
		return err
	}
	zstSum, err := digest(zst, -1)
	if err != nil {
		return err
	}
	want := rawSum
	flash := func(img string, sum []byte) []string {
		argv := []string{bty, "flash", "--image", img, "--disk", dev.Path, "--yes"}
		if sum != nil {
			argv = append(argv, "--sha256", hex.EncodeToString(sum))
		}
		return argv
	}
	cases := []struct {
		name string
		argv []string
	}{
		{"dd raw", []string{"sh", "-c", dd}},
		{"bty raw", flash(raw, nil)},
		{"bty raw+sha", flash(raw, rawSum)},
		{"zstd|dd", []string{"sh", "-c", zdd}},
		{"bty zstd", flash(zst, nil)},
		{"bty zstd+sha", flash(zst, zstSum)},
		{"xz|dd", []string{"sh", "-c", xdd}},
		{"bty xz", flash(xzf, nil)},
	}
	times := map[string][]time.Duration{}
	var peakRSS int64
	for i := range runs {
		for _, c := range cases {
			d, rss, err := timed(c.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			got, err := digest(dev.Path, size)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("%s: device content differs from the image", c.name)
			}
			times[c.name] = append(times[c.name], d)
			if c.argv[0] == bty {
				peakRSS = max(peakRSS, rss)
			}
			fmt.Printf("run %d %-12s %6.2fs  %7.1f MiB/s  peak RSS %6.1f MiB\n", i+1, c.name, d.Seconds(), float64(size)/d.Seconds()/(1<<20), float64(rss)/1024)
		}
	}
	med := func(name string) time.Duration {
		t := slices.Clone(times[name])
		slices.Sort(t)
		return t[len(t)/2]
	}
	ratio := func(base, b string) float64 { return med(base).Seconds() / med(b).Seconds() }
	fmt.Printf("\nmedian of %d runs, %s image on %s:\n", runs, human(size), dev.Path)
	for _, c := range cases {
		fmt.Printf("  %-12s %6.2fs  %7.1f MiB/s\n", c.name, med(c.name).Seconds(), float64(size)/med(c.name).Seconds()/(1<<20))
	}
	fmt.Printf("throughput ratio bty raw      / dd      : %.2f (target >= 0.95)\n", ratio("dd raw", "bty raw"))
	fmt.Printf("throughput ratio bty raw+sha  / dd      : %.2f (verifying sha256)\n", ratio("dd raw", "bty raw+sha"))
	fmt.Printf("throughput ratio bty zstd     / zstd|dd : %.2f (target >= 1.00)\n", ratio("zstd|dd", "bty zstd"))
	fmt.Printf("throughput ratio bty zstd+sha / zstd|dd : %.2f (verifying sha256)\n", ratio("zstd|dd", "bty zstd+sha"))
	fmt.Printf("throughput ratio bty xz       / xz|dd   : %.2f (xz -dc as installed)\n", ratio("xz|dd", "bty xz"))
	fmt.Printf("bty peak RSS: %.1f MiB (target < 64)\n", float64(peakRSS)/1024)
	return nil
}

// timed runs argv and returns its wall time and peak RSS (KiB). The peak is
// read from /proc/PID/status (VmHWM) while the process runs: wait4's
// ru_maxrss would count this large parent's memory, shared until exec.
func timed(argv []string) (time.Duration, int64, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	var hwm atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if kib := vmHWM(status); kib > hwm.Load() {
				hwm.Store(kib)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	d := time.Since(start)
	close(stop)
	<-polled
	if err != nil {
		return 0, 0, fmt.Errorf("%v\n%s", err, out.String())
	}
	return d, hwm.Load(), nil
}

func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}

func writeImage(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const chunk = 64 << 20
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		if _, err := f.Write(imagetest.Disk(int(n), uint64(off))); err != nil {
			return err
		}
	}
	return f.Close()
}

func digest(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	var err2 error
	if n < 0 {
		_, err2 = io.Copy(h, f)
	} else {
		_, err2 = io.CopyN(h, f, n)
	}
	if err2 != nil {
		return nil, err2
	}
	return h.Sum(nil), nil
}

func human(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
