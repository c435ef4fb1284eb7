// Package auto is `bty auto`, the live environment's unattended mode: ask
// bty-web for this machine's plan, carry it out (flash, inventory, or
// nothing), report the outcome, and print the console markers the boot
// tests read. Rebooting is left to the caller (bty-init).
package auto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/disk"
	"github.com/bty-lab/bty/bty/flash"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/seed"
	"github.com/bty-lab/bty/bty/version"
)

// Options configure a run.
type Options struct {
	Server string // bty-web base URL
	MAC    mac.Addr
	// Token is the live boot's token, sent with every request to bty-web
	// (provision.Session).
	Token    string
	Progress *progress.Reporter
	System   disk.System
	Client   *http.Client
	// PlanTries bounds how often the plan is asked for while bty-web is
	// unreachable (1 s, 2 s, 4 s, ... apart).
	PlanTries int
	// RestartBackoff is the wait before a broken transfer's first restart
	// (flash.Job.RestartBackoff); 0 means flash's default.
	RestartBackoff time.Duration
	// ProgressEvery is how often a flash's progress is reported to bty-web
	// (default 1 s), for the operator watching it.
	ProgressEvery time.Duration
}

// Run carries out the plan. A flash failure is reported to bty-web and
// returned as a *flash.Error.
func Run(ctx context.Context, o Options) error {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.PlanTries == 0 {
		o.PlanTries = 6
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = time.Second
	}
	p := o.Progress
	p.Marker("bty: entered v%s", version.String())
	plan, err := o.plan(ctx)
	if err != nil {
		return err
	}
	switch plan.Mode {
	case provision.PlanExit:
		p.Marker("bty: plan says exit; nothing to do")
		return nil
	case provision.PlanInventory:
		return o.inventory(ctx)
	case provision.PlanInteractive:
		p.Marker("bty: interactive mode: use bty images and bty flash on this console (catalog %s)", plan.Catalog)
		return nil
	case provision.PlanFlash:
		return o.flash(ctx, plan)
	}
	return fmt.Errorf("unknown plan mode %q from %s", plan.Mode, o.Server)
}

func (o Options) url(suffix string) string {
	return strings.TrimSuffix(o.Server, "/") + "/pxe/" + o.MAC.String() + suffix
}

func (o Options) plan(ctx context.Context) (provision.Plan, error) {
	var plan provision.Plan
	var last error
	wait := time.Second
	for try := 1; try <= o.PlanTries; try++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.url("/plan"), nil)
		o.authorize(req)
		resp, err := o.Client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(body, &plan); err != nil {
					return plan, fmt.Errorf("plan from %s: %w", o.Server, err)
				}
				return plan, nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
			if resp.StatusCode == http.StatusForbidden {
				// Another live boot holds the machine, or this one's token
				// was never given: asking again changes nothing.
				return plan, fmt.Errorf("plan from %s: %w", o.Server, err)
			}
		}
		last = err
		o.Progress.Marker("bty: asking %s for the plan failed (%v); retrying in %s", o.Server, err, wait)
		select {
		case <-ctx.Done():
			return plan, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return plan, fmt.Errorf("no plan from %s after %d tries: %w", o.Server, o.PlanTries, last)
}

// authorize adds the live boot's token to a request to bty-web.
func (o Options) authorize(req *http.Request) {
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
}

func (o Options) post(ctx context.Context, suffix string, v any) error {
	body, _ := json.Marshal(v)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.url(suffix), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	o.authorize(req)
	resp, err := o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %s %s", suffix, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

func (o Options) flash(ctx context.Context, plan provision.Plan) error {
	p := o.Progress
	p.Marker("bty: auto-flash starting")
	p.Marker("bty: image %s (%s) to the disk with serial %q", plan.Image, plan.Format, plan.TargetDiskSerial)
	// The first report, at once: bty-web learns the flash began (and this
	// live boot is the machine's) before the first byte is written.
	if err := o.post(ctx, "/status", provision.Status{Status: provision.StatusProgress, Stage: "start"}); err != nil {
		p.Marker("bty: telling %s the flash starts failed: %v", o.Server, err)
	}
	// A restart of the transfer is told to bty-web at once, and then with
	// every progress report: the operator sees why the bar went back.
	var note atomic.Pointer[string]
	stopProgress := o.reportProgress(ctx, &note)
	report := func(err error, sum string, seeded bool, note string) error {
		stopProgress()
		st := provision.Status{Status: provision.StatusDone, SHA256: sum, Seed: seeded, Reason: note}
		if err != nil {
			st = provision.Status{Status: provision.StatusFailed, Reason: err.Error()}
		}
		if perr := o.post(ctx, "/status", st); perr != nil {
			p.Marker("bty: reporting %s to %s failed: %v", st.Status, o.Server, perr)
		}
		return err
	}
	disks, err := o.System.List()
	if err != nil {
		return report(&flash.Error{Kind: flash.NoTarget, Err: err}, "", false, "")
	}
	target, err := disk.BySerial(disks, plan.TargetDiskSerial)
	if err != nil {
		p.Marker("bty: %v", err)
		return report(&flash.Error{Kind: flash.NoTarget, Err: err}, "", false, "")
	}
	format := catalog.Format(plan.Format)
	res, err := flash.Run(ctx, flash.Job{
		Source: plan.Image, SHA256: plan.SHA256, Format: format, Target: target, Progress: p,
		TempDir: "/run", RestartBackoff: o.RestartBackoff,
		OnRestart: func(r flash.Restart) {
			why := r.String()
			if len(why) > 1000 {
				why = why[:1000]
			}
			note.Store(&why)
			if err := o.post(ctx, "/status", provision.Status{Status: provision.StatusProgress, Stage: "restart", Reason: why}); err != nil {
				p.Marker("bty: telling %s of the restart failed: %v", o.Server, err)
			}
		},
	})
	if err != nil {
		p.Marker("bty: flash failed: %v", err)
		return report(err, "", false, "")
	}
	p.Marker("bty: wrote %s to %s (sha256 %s)", progress.Bytes(res.Written), target.Path, orNone(res.SHA256))
	seeded, err := o.seed(ctx, target.Path)
	var noSeed string
	if errors.Is(err, seed.ErrNoRoom) {
		// An image bty cannot add a seed to boots without one, as it
		// would without bty; the operator is told why.
		noSeed, err = err.Error(), nil
		p.Marker("bty: no cloud-init seed: %s", noSeed)
	}
	if err != nil {
		// The image is right but the machine would come up without its
		// identity, a clone of every other: not a success.
		err = &flash.Error{Kind: flash.Failed, Err: fmt.Errorf("the image was written and verified, but its cloud-init seed was not: %w", err)}
		p.Marker("bty: flash failed: %v", err)
		return report(err, "", false, "")
	}
	if err := report(nil, res.SHA256, seeded, noSeed); err != nil {
		return err
	}
	p.Marker("bty: flash complete; rebooting")
	return nil
}

// reportProgress sends the flash's newest progress to bty-web every
// ProgressEvery until stop is called. The flash never waits for it: the
// reporter only records the newest update, and a report that fails is
// skipped (the next one says more), so a slow bty-web costs a view, not
// write speed.
func (o Options) reportProgress(ctx context.Context, note *atomic.Pointer[string]) (stop func()) {
	var latest atomic.Pointer[progress.Update]
	o.Progress.Watch(func(u progress.Update) { latest.Store(&u) })
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.ProgressEvery)
		defer t.Stop()
		var sent *progress.Update
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			u := latest.Load()
			if u == nil || u == sent {
				continue
			}
			sent = u
			st := provision.Status{Status: provision.StatusProgress, Stage: u.Stage, Done: u.Done, Total: max(u.Total, 0),
				Fraction: min(max(u.Fraction, 0), 1), Elapsed: u.Elapsed.Seconds()}
			if n := note.Load(); n != nil {
				st.Reason = *n
			}
			_ = o.post(ctx, "/status", st)
		}
	}()
	return sync.OnceFunc(func() {
		cancel()
		<-done
		o.Progress.Watch(nil)
	})
}

func orNone(s string) string {
	if s == "" {
		return "not checked"
	}
	return s
}

func (o Options) inventory(ctx context.Context) error {
	disks, err := o.System.List()
	if err != nil {
		return err
	}
	inv := provision.Inventory{Disks: []provision.InventoryDisk{}}
	for _, x := range disks {
		inv.Disks = append(inv.Disks, provision.InventoryDisk{Path: x.Path, Size: x.Size, Model: x.Model, Serial: x.Serial, Removable: x.Removable, ReadOnly: x.ReadOnly})
	}
	if err := o.post(ctx, "/inventory", inv); err != nil {
		return err
	}
	o.Progress.Marker("bty: inventory of %d disks sent; rebooting", len(inv.Disks))
	return nil
}

// seed writes the machine's cloud-init seed (bty-web's GET
// /pxe/{mac}/cloud-init) to the end of the flashed disk, reporting
// whether it did: a machine or image that opted out gets none.
func (o Options) seed(ctx context.Context, path string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.url("/cloud-init"), nil)
	o.authorize(req)
	resp, err := o.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("asking %s for the seed: %w", o.Server, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("asking %s for the seed: %s %s", o.Server, resp.Status, bytes.TrimSpace(body))
	}
	var s api.Seed
	if err := json.Unmarshal(body, &s); err != nil {
		return false, fmt.Errorf("the seed from %s: %w", o.Server, err)
	}
	if !s.Enabled {
		o.Progress.Marker("bty: no cloud-init seed: the machine or its image opted out")
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	placed, err := seed.Write(f, size, seed.Files{MetaData: s.MetaData, UserData: s.UserData, NetworkConfig: s.NetworkConfig})
	if err != nil {
		return false, err
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	o.Progress.Marker("bty: cloud-init seed written: partition %d (%s, %s) at sector %d of %s", placed.Partition, seed.Label,
		progress.Bytes(int64(placed.Sectors)*512), placed.First, path)
	return true, nil
}
