package fleet

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/internal/webclient"
)

// The bench's own smoke run: ten machines at once against the OCI images
// (one bty-web, then two replicas on PostgreSQL behind the balancer) and
// nginx, every byte checked; bty-web then holds each machine's flash as
// verified. It asserts what happened, not how fast (the bench reports
// speed; a test on a shared machine must not fail on it).
func TestSmoke(t *testing.T) {
	testenv.Require(t, "root (the images run chrooted)", func() error {
		if os.Geteuid() != 0 {
			return os.ErrPermission
		}
		return nil
	}())
	_, err := findNginx()
	testenv.Require(t, "nginx", err)
	imgs := Images{Web: testenv.Runfiles(t, "BTY_OCI_WEB", "//e2e/fleet:fleet_test"), TFTP: testenv.Runfiles(t, "BTY_OCI_TFTP", "//e2e/fleet:fleet_test")}
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) { smoke(t, imgs, replicas) })
	}
}

// smoke boots ten machines against bty (one bty-web, or replicas on
// PostgreSQL behind the balancer) and nginx.
func smoke(t *testing.T, imgs Images, replicas int) {
	dir := t.TempDir()
	const n = 10
	sizes := Sizes{Kernel: 1 << 20, Initrd: 1 << 20, Squashfs: 1 << 20, Image: 2 << 20}
	lab, err := Start(dir, imgs, sizes, n, replicas)
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Stop()
	if len(lab.WebPIDs) != replicas {
		t.Fatalf("%d bty-web processes", len(lab.WebPIDs))
	}
	for name, tc := range map[string]struct {
		target Target
		tftp   int
	}{"bty": {lab.BTY, n}, "nginx": {lab.Anchor, 0}} {
		r := Run(context.Background(), tc.target, n)
		if r.Failed > 0 {
			t.Fatalf("%s: %d machines failed: %v", name, r.Failed, r.Errors)
		}
		if want := int64(n) * (sizes.Kernel + sizes.Initrd + sizes.Squashfs + sizes.Image); r.Bytes != want || len(r.FirstByte) != 4*n {
			t.Errorf("%s: %d bytes in %d files checked; want %d in %d", name, r.Bytes, len(r.FirstByte), want, 4*n)
		}
		if r.TFTPTransfers != tc.tftp || len(r.ScriptLatency) != n {
			t.Errorf("%s: %d TFTP transfers, %d per-MAC scripts", name, r.TFTPTransfers, len(r.ScriptLatency))
		}
		t.Logf("%s: %.2f GB/s, first byte p99 %s, script p99 %s", name, r.Throughput()/1e9, Percentile(r.FirstByte, 99), Percentile(r.ScriptLatency, 99))
	}
	op, err := webclient.Login(lab.BTY.Base, password)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		m, err := op.Machine(MAC(i))
		if err != nil || m.Flash.State != provision.FlashVerified || !m.Flashed {
			t.Errorf("%s after its flash: %+v %v", MAC(i), m.Flash, err)
		}
	}
	if u, err := SampleAll(lab.WebPIDs); err != nil || u.PeakRSS == 0 || u.FDs == 0 {
		t.Errorf("bty-web's usage: %+v %v", u, err)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := Percentile(d, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %s", p)
	}
	if p := Percentile(d, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %s", p)
	}
	if Percentile(nil, 99) != 0 || MAC(258) != "52:54:00:00:01:02" {
		t.Error("empty percentile or MAC numbering")
	}
}

// Sample reads a process as the kernel accounts it: for this very
// process, its CPU time agrees with getrusage(2) (to /proc's clock tick),
// its peak RSS holds a buffer it touched; a child's descriptors are
// counted exactly.
func TestSample(t *testing.T) {
	before, err := Sample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	sum := sha256.Sum256(buf) // CPU time, of a size the clock tick resolves
	after, err := Sample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	kernel := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	// /proc counts whole ticks; getrusage came a moment later.
	if d := kernel - after.CPU; d < -clockTick || d > 5*clockTick {
		t.Errorf("Sample's CPU time %s, getrusage's %s (tick %s)", after.CPU, kernel, clockTick)
	}
	if after.CPU <= before.CPU {
		t.Errorf("CPU time %s then %s after hashing 64 MiB (%x)", before.CPU, after.CPU, sum[:4])
	}
	if after.PeakRSS < int64(len(buf)) || after.PeakRSS>>10 > ru.Maxrss+1024 {
		t.Errorf("peak RSS %d bytes with a 64 MiB buffer touched; getrusage says %d KiB", after.PeakRSS, ru.Maxrss)
	}

	// Descriptors are counted on a process given known ones (this one's
	// change as the test framework and the runtime open and close theirs):
	// cat with standard input, output, error and five more files (and
	// whatever else its parent leaves open across exec).
	if n := startCat(t, 5); n < 3+5 {
		t.Errorf("cat with 5 files beside standard input, output and error has %d descriptors", n)
	}
}

// startCat runs cat with n extra open files and returns its descriptors
// as Sample counts them, once it runs cat.
func startCat(t *testing.T, n int) int {
	t.Helper()
	stdin, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cmd := exec.Command("cat")
	cmd.Stdin = stdin
	for range n {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); cmd.Wait() })
	stdin.Close()
	// Until it has exec'd cat, the child still holds the descriptors Go
	// starts it with.
	comm := fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(comm); string(b) == "cat\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cat did not start within 10 s")
		}
	}
	u, err := Sample(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return u.FDs
}
