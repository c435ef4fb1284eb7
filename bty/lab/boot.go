package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/state"
)

// BootRequest is one PXE boot asking for its script.
type BootRequest struct {
	MAC    mac.Addr
	Boot   provision.Boot // what the client said of itself
	Remote string         // the client's address
	// ReadOnly answers from the stored state and changes nothing (a
	// monitoring probe's HEAD).
	ReadOnly bool
}

// Boot decides a PXE boot by the machine's boot mode. A live boot gets a
// new token (provision.Session) unless one is under way, which refuses it:
// the boot then goes to the disk, and the refusal is on record. Nothing
// else of a known machine changes on a boot, which any client can ask
// for: what the client says of itself and the flash's arming wait for the
// first report the token proves, and the local boot that alternates with
// a live one is spent only from where that live boot reported from. An
// unknown MAC is stored as a new machine unless MaxMachines are stored
// already; it then boots as a new machine would, unrecorded and without a
// live boot. A boot that cannot be recorded goes to the disk, saying why.
func (l *Lab) Boot(ctx context.Context, req BootRequest, snap *Snapshot) provision.Decision {
	if req.ReadOnly {
		d, err := l.decideStored(ctx, req, snap)
		if err != nil {
			return provision.Decision{Action: provision.BootRefused, Reason: "bty-web cannot read its state"}
		}
		return d
	}
	d, err := l.decide(ctx, req, snap)
	if err != nil {
		l.log.Error("pxe: cannot record the boot; sending the machine to its disk", "mac", req.MAC, "err", err)
		return provision.Decision{Action: provision.BootRefused, Reason: "bty-web cannot record this boot"}
	}
	return d
}

func (l *Lab) decide(ctx context.Context, req BootRequest, snap *Snapshot) (provision.Decision, error) {
	n, err := l.store.CountMachines(ctx)
	if err != nil {
		return provision.Decision{}, err
	}
	full := n >= l.cfg.MaxMachines
	var d provision.Decision
	skipped := false
	_, err = l.store.Update(ctx, req.MAC, func(m provision.Machine, exists bool) (state.Change, error) {
		created := !exists
		if created {
			m = provision.New(req.MAC)
		}
		d = m.Booted(req.Boot).DecideBoot(snap.Lookup, snap.LiveFor)
		if created && full {
			skipped = true
			d = refuseLive(d, m, "bty-web keeps no more machines (limits.max_machines)")
			return state.Change{}, nil
		}
		// What a known machine's client says is the live boot's until a
		// report proves it; a machine that never said keeps it at once,
		// for the operator to see why it got no live boot.
		next := d.Next
		if m.Arch != "" || m.Firmware != "" {
			next.Arch, next.Firmware = m.Arch, m.Firmware
		}
		detail := map[string]any{"mode": m.BootMode, "created": created, "remote": req.Remote,
			"arch": req.Boot.Arch, "firmware": req.Boot.Firmware}
		now := l.store.Now()
		switch {
		case d.Action == provision.BootFlasher || d.Action == provision.BootInventory || d.Action == provision.BootInteractive:
			if m.Session.Outstanding(now, l.cfg.SessionIdle) {
				d = refuseLive(d, m, fmt.Sprintf("a live boot of this machine is under way since %s UTC; wait for it to end or save the machine in bty-web",
					m.Session.Issued.UTC().Format(time.TimeOnly)))
				next = m
				break
			}
			token, sum, err := provision.NewToken()
			if err != nil {
				return state.Change{}, err
			}
			next = next.Issue(sum, d.Action, req.Boot, now)
			d.Token = token
		case spends(m, next) && !m.Spends(req.Remote):
			// The local boot is given, not spent: the next boot stays local.
			next = m
			detail["kept"] = "the live boot reported from " + m.Session.Remote
		}
		detail["action"] = d.Action.String()
		if d.Reason != "" {
			detail["reason"] = d.Reason
		}
		return state.Change{Machine: &next, Kind: state.EventPXEOffer, Detail: detail}, nil
	})
	if skipped {
		l.log.Warn("pxe: machine limit reached; not storing a new machine", "mac", req.MAC, "limit", l.cfg.MaxMachines)
	}
	return d, err
}

// spends reports whether a boot from m to next takes the local boot that
// alternates with a live one (the next boot is live again).
func spends(m, next provision.Machine) bool {
	return m.Armed != next.Armed || m.Flashed != next.Flashed || m.Inventoried != next.Inventoried
}

// refuseLive turns a live boot into the disk's, saying why; other
// decisions stand.
func refuseLive(d provision.Decision, m provision.Machine, why string) provision.Decision {
	switch d.Action {
	case provision.BootFlasher, provision.BootInventory, provision.BootInteractive:
		return provision.Decision{Action: provision.BootRefused, Reason: why, Next: m, Plan: provision.Plan{Mode: provision.PlanExit}}
	}
	return d
}

// decideStored is decide without any change: what the stored state says,
// with no live boot (nothing may report).
func (l *Lab) decideStored(ctx context.Context, req BootRequest, snap *Snapshot) (provision.Decision, error) {
	m, err := l.store.Machine(ctx, req.MAC)
	if errors.Is(err, state.ErrNotFound) {
		m, err = provision.New(req.MAC), nil
	}
	if err != nil {
		return provision.Decision{}, err
	}
	return m.Booted(req.Boot).DecideBoot(snap.Lookup, snap.LiveFor), nil
}

// Script is a boot decision as a script in format f: every format says the
// same thing with the same URLs.
func (l *Lab) Script(f pxescript.Format, snap *Snapshot, addr mac.Addr, d provision.Decision) ([]byte, error) {
	switch d.Action {
	case provision.BootFlasher, provision.BootInventory, provision.BootInteractive:
		// The live environment for the machine's architecture (DecideBoot
		// checked it is here), its purpose named by the action.
		nb, err := pxescript.NetbootFor(l.cfg.Version, d.Next.LiveArch())
		if err != nil {
			return nil, Errorf(Internal, "%v", err)
		}
		return f.Live(snap.Base, addr.String(), d.Action.String(), d.Token, nb)
	case provision.BootRefused:
		return f.Local(addr.String(), d.Reason+", booting the local disk")
	default:
		return f.Local(addr.String(), "booting the local disk")
	}
}

// Plan is what the live boot of a known machine is told to do; token
// must prove it (the plan names the image and the target disk).
func (l *Lab) Plan(ctx context.Context, addr mac.Addr, token string, snap *Snapshot) (provision.Plan, error) {
	m, err := l.Machine(ctx, addr)
	if err != nil {
		return provision.Plan{}, err
	}
	if err := m.Check(token); err != nil {
		return provision.Plan{}, Errorf(Forbidden, "%s: %v", addr, err)
	}
	return m.Decide(snap.Lookup, snap.Base+"/catalog.toml").Plan, nil
}

// Report is one report of a machine's live boot: its token, where it came
// from, and the event it is logged as.
type Report struct {
	MAC    mac.Addr
	Token  string
	Remote string
}

// report applies fn to a known machine whose live boot the report's token
// proves, as one transaction with its event. A report the token does not
// prove changes nothing; it is refused and recorded.
func (l *Lab) report(ctx context.Context, rep Report, kind state.EventKind, detail any, fn func(provision.Machine) (provision.Machine, error)) error {
	now := l.store.Now()
	var refused error
	_, err := l.store.Update(ctx, rep.MAC, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, state.ErrNotFound
		}
		first := m.Session.Seen.IsZero() && m.Session.Action == provision.BootFlasher.String()
		m, err := m.Authenticate(rep.Token, rep.Remote, now)
		if err != nil {
			refused = err
			return state.Change{Kind: state.EventReportRefused, Detail: map[string]string{"remote": rep.Remote, "reason": err.Error()}}, nil
		}
		next, err := fn(m)
		if err != nil {
			return state.Change{}, err
		}
		if first && kind == "" {
			kind = state.EventFlashArmed // the flasher's first report (bty auto sends it at once)
		}
		return state.Change{Machine: &next, Kind: kind, Detail: detail}, nil
	})
	switch {
	case errors.Is(err, state.ErrNotFound):
		return Errorf(NotFound, "unknown machine %s", rep.MAC)
	case err == nil && refused != nil:
		l.log.Warn("machine report refused", "mac", rep.MAC, "remote", rep.Remote, "reason", refused)
		return Errorf(Forbidden, "%s: %v; report refused", rep.MAC, refused)
	}
	return err
}

// flashEvents are the events of the flasher's final reports.
var flashEvents = map[string]state.EventKind{provision.StatusDone: state.EventFlashDone, provision.StatusFailed: state.EventFlashFailed}

// Report applies a flasher's status report from remote (the rules of
// provision.Machine.Report). Progress reports update the machine but log
// no event: one a second from every flashing machine would push the audit
// log's real events out of its retention. A "done" is checked against
// the sha256 of the image the machine is set to flash.
func (l *Lab) Report(ctx context.Context, rep Report, st provision.Status) error {
	addr, remote := rep.MAC, rep.Remote
	if err := st.Validate(); err != nil {
		return Errorf(Invalid, "%v", err)
	}
	kind := flashEvents[st.Status]
	detail := map[string]string{"status": st.Status, "reason": st.Reason, "remote": remote}
	if kind != "" {
		if st.SHA256 != "" {
			detail["sha256"] = st.SHA256
		}
		l.log.Info("flash status", "mac", addr, "status", st.Status, "reason", st.Reason, "remote", remote)
	}
	// The planned image, read before the machine's transaction; the
	// transaction checks the machine still plans it.
	var ref, want string
	if st.Status == provision.StatusDone {
		m, err := l.Machine(ctx, addr)
		if err != nil {
			return err
		}
		ref = m.ImageRef
		if img, err := l.store.ImageByRef(ctx, ref); err == nil {
			want = img.SHA256
		}
	}
	err := l.report(ctx, rep, kind, detail, func(m provision.Machine) (provision.Machine, error) {
		if st.Status == provision.StatusDone && m.ImageRef != ref {
			return m, provision.ErrNotFlashing // saved meanwhile: a new flash
		}
		next, err := m.Report(st, want, l.store.Now())
		if err == nil && st.Status == provision.StatusDone && st.Seed {
			next = next.AwaitPhoneHome(l.store.Now().Add(l.cfg.DeployTimeout))
		}
		return next, err
	})
	switch {
	case errors.Is(err, provision.ErrNotFlashing), errors.Is(err, provision.ErrWrongDigest):
		l.store.Log(ctx, state.EventStatusRefused, addr, remote, detail)
		return Errorf(Conflict, "%s: %v; status refused", addr, err)
	case errors.Is(err, provision.ErrBackwards):
		return Errorf(Conflict, "%s: %v; progress refused", addr, err)
	case err != nil && KindOf(err) == Internal:
		return Errorf(Internal, "recording %s's report: %w", addr, err)
	}
	return err
}

// The inventory route is open, so what it stores is bounded: at most
// MaxInventoryDisks disks, the fields of provision.InventoryDisk only,
// each string at most maxInventoryString bytes.
const (
	MaxInventoryDisks  = 64
	maxInventoryString = 256
)

// Inventory stores a known machine's disks as it reported them (each a
// JSON object, checked against provision.InventoryDisk).
func (l *Lab) Inventory(ctx context.Context, rep Report, disks []json.RawMessage) error {
	addr := rep.MAC
	if len(disks) > MaxInventoryDisks {
		return Errorf(Invalid, "%d disks reported; at most %d", len(disks), MaxInventoryDisks)
	}
	kept := provision.Inventory{Disks: make([]provision.InventoryDisk, len(disks))}
	for i, raw := range disks {
		d := &kept.Disks[i]
		if err := json.Unmarshal(raw, d); err != nil {
			return Errorf(Invalid, "disk %d: %v", i+1, err)
		}
		for _, f := range []string{d.Path, d.Model, d.Serial} {
			if len(f) > maxInventoryString {
				return Errorf(Invalid, "disk %d: a field is longer than %d bytes", i+1, maxInventoryString)
			}
		}
	}
	body, _ := json.Marshal(kept)
	err := l.report(ctx, rep, state.EventInventory, map[string]int{"disks": len(disks)}, func(m provision.Machine) (provision.Machine, error) {
		m.Inventory, m.Inventoried = body, true
		return m.End(), nil
	})
	if err != nil && KindOf(err) == Internal {
		return Errorf(Internal, "recording %s's inventory: %w", addr, err)
	}
	return err
}
