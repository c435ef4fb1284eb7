package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/bty-lab/bty/bty/progress"
)

// The goals a run is held to (issue: a rack of 1,000 machines at once).
const (
	GoalThroughputRatio = 0.9                   // bty's throughput / the anchor's
	GoalScriptP99       = 50 * time.Millisecond // per-MAC script, 99th percentile
)

// Bench starts the lab, boots n machines against bty, then fetches the
// same files from the anchor, and returns the report; the error says
// which client failed or which goal was missed.
func Bench(ctx context.Context, imgs Images, sizes Sizes, n, replicas int) (string, error) {
	dir, err := os.MkdirTemp("", "bty-fleet-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	lab, err := Start(dir, imgs, sizes, n, replicas)
	if err != nil {
		return "", err
	}
	defer lab.Stop()
	before, err := SampleAll(lab.WebPIDs)
	if err != nil {
		return "", err
	}

	// Each server's descriptors are sampled while the machines boot, the
	// same way for both: the sampling costs the load generator (which
	// shares the machine) the same CPU in either run.
	// Each server's CPU time while files move: the two share the machine
	// with the load generator, so what one spends the other cannot.
	btyCPU, nginxCPU := filesCPU(&lab.BTY, lab.WebPIDs), filesCPU(&lab.Anchor, lab.AnchorPIDs)
	start := time.Now()
	btyFDs := watchFDs(lab.WebPIDs, before.FDs)
	bty := Run(ctx, lab.BTY, n)
	maxFDs := btyFDs()
	btyWall := time.Since(start)
	after, err := SampleAll(lab.WebPIDs)
	if err != nil {
		return "", err
	}
	start = time.Now()
	anchorFDs := watchFDs(lab.AnchorPIDs, 0)
	anchor := Run(ctx, lab.Anchor, n)
	nginxFDs := anchorFDs()
	anchorWall := time.Since(start)

	var b strings.Builder
	host, _ := os.Hostname()
	setup := "one bty-web (SQLite)"
	if replicas > 1 {
		setup = fmt.Sprintf("%d bty-web replicas on PostgreSQL behind a TCP balancer", replicas)
	}
	fmt.Fprintf(&b, "fleet bench: %d machines at once against %s, on %s (%d cores), files %s + %s + %s + image %s\n", n, setup, host, runtime.NumCPU(),
		progress.Bytes(sizes.Kernel), progress.Bytes(sizes.Initrd), progress.Bytes(sizes.Squashfs), progress.Bytes(sizes.Image))
	line := func(name string, r Result, wall time.Duration) {
		fmt.Fprintf(&b, "%-7s %d/%d machines ok in %s; %s of files in %s: %.2f GB/s; first byte p50 %s p99 %s",
			name, r.Clients-r.Failed, r.Clients, wall.Round(time.Millisecond), progress.Bytes(r.Bytes), r.FilesWall.Round(time.Millisecond),
			r.Throughput()/1e9, Percentile(r.FirstByte, 50).Round(time.Microsecond), Percentile(r.FirstByte, 99).Round(time.Microsecond))
		if len(r.ScriptLatency) > 0 {
			fmt.Fprintf(&b, "; per-MAC script (nginx: a static copy) p50 %s p99 %s", Percentile(r.ScriptLatency, 50).Round(time.Microsecond), Percentile(r.ScriptLatency, 99).Round(time.Microsecond))
		}
		b.WriteString("\n")
	}
	line("bty", bty, btyWall)
	line("nginx", anchor, anchorWall)
	ratio := bty.Throughput() / anchor.Throughput()
	fmt.Fprintf(&b, "throughput bty/nginx %.2f (goal >= %.2f)\n", ratio, GoalThroughputRatio)
	fmt.Fprintf(&b, "server CPU while files moved: bty-web %s (%.2f s/GB), nginx %s (%.2f s/GB)\n",
		btyCPU().Round(10*time.Millisecond), btyCPU().Seconds()/(float64(bty.Bytes)/1e9),
		nginxCPU().Round(10*time.Millisecond), nginxCPU().Seconds()/(float64(anchor.Bytes)/1e9))
	if bty.TFTPTransfers > 0 {
		fmt.Fprintf(&b, "TFTP: %d transfers of ipxe.efi in %s: %.0f transfers/s (%d refused as busy and retried)\n",
			bty.TFTPTransfers, bty.TFTPWall.Round(time.Millisecond), float64(bty.TFTPTransfers)/bty.TFTPWall.Seconds(), bty.TFTPBusy)
	}
	fmt.Fprintf(&b, "bty-web (all replicas): peak RSS %s (%s before the machines), at most %d open descriptors; nginx (master and workers): at most %d\n",
		progress.Bytes(after.PeakRSS), progress.Bytes(before.PeakRSS), maxFDs, nginxFDs)

	var errs []error
	for name, r := range map[string]Result{"bty": bty, "nginx": anchor} {
		if r.Failed > 0 {
			errs = append(errs, fmt.Errorf("%s: %d of %d machines failed: %s", name, r.Failed, r.Clients, strings.Join(r.Errors, "; ")))
		}
	}
	if ratio < GoalThroughputRatio {
		errs = append(errs, fmt.Errorf("bty's throughput is %.2f of nginx's; the goal is %.2f", ratio, GoalThroughputRatio))
	}
	if p99 := Percentile(bty.ScriptLatency, 99); p99 >= GoalScriptP99 {
		errs = append(errs, fmt.Errorf("per-MAC script p99 %s; the goal is under %s (nginx's static copy: %s)", p99, GoalScriptP99, Percentile(anchor.ScriptLatency, 99)))
	}
	return b.String(), errors.Join(errs...)
}

// watchFDs samples the open descriptors of pids every 50 ms until the
// returned function is called, which returns the most seen (at least
// floor).
func watchFDs(pids []int, floor int) func() int {
	var mu sync.Mutex
	most := floor
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if u, err := SampleAll(pids); err == nil {
				mu.Lock()
				most = max(most, u.FDs)
				mu.Unlock()
			}
		}
	}()
	return func() int {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}

// filesCPU hooks t's phases: it samples pids' CPU time as the files phase
// starts and as it ends, and returns what they used in between.
func filesCPU(t *Target, pids []int) func() time.Duration {
	var from, to time.Duration
	t.Phase = func(name string) {
		u, err := SampleAll(pids)
		if err != nil {
			return
		}
		switch name {
		case "files":
			from = u.CPU
		case "done":
			to = u.CPU
		}
	}
	return func() time.Duration { return max(to-from, 0) }
}
