package lab

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/state"
)

// BootRequest is one PXE boot asking for its script.
type BootRequest struct {
	MAC    mac.Addr
	Boot   provision.Boot // what the client said of itself
	Remote string         // the client's address, for the event
	// ReadOnly answers from the stored state and changes nothing (a
	// monitoring probe's HEAD).
	ReadOnly bool
}

// Boot decides a PXE boot by the machine's boot mode and stores the boot's
// state change (a new machine, a disarm after a local boot) with its
// event, atomically. An unknown MAC is stored as a new machine unless
// MaxMachines are stored already (unauthenticated clients must not grow
// the state without bound); it then boots as a new machine would,
// unrecorded. Booting must not depend on the audit log: when the state
// cannot be written the decision comes from the stored state, and when it
// cannot be read either the machine is sent to its disk, saying why.
func (l *Lab) Boot(ctx context.Context, req BootRequest, snap *Snapshot) provision.Decision {
	var d provision.Decision
	var err error
	if req.ReadOnly {
		d, err = l.decideStored(ctx, req, snap)
	} else if d, err = l.decide(ctx, req, snap); err != nil {
		l.log.Error("pxe: cannot record the boot; answering from the stored state", "mac", req.MAC, "err", err)
		d, err = l.decideStored(ctx, req, snap)
	}
	if err != nil {
		l.log.Error("pxe: cannot read the state; sending the machine to its disk", "mac", req.MAC, "err", err)
		d = provision.Decision{Action: provision.BootRefused, Reason: "bty-web cannot read its state"}
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
		m = m.Booted(req.Boot)
		d = m.DecideBoot(snap.Lookup, snap.LiveFor)
		next := d.Next
		if created && full {
			skipped = true
			return state.Change{}, nil
		}
		detail := map[string]any{"mode": m.BootMode, "action": d.Action.String(), "created": created, "remote": req.Remote,
			"arch": m.Arch, "firmware": m.Firmware}
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

// decideStored is decide without any change: what the stored state says.
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
		return f.Live(snap.Base, addr.String(), d.Action.String(), nb)
	case provision.BootRefused:
		return f.Local(addr.String(), d.Reason+", booting the local disk")
	default:
		return f.Local(addr.String(), "booting the local disk")
	}
}

// Plan is what the live environment of a known machine is told to do.
func (l *Lab) Plan(ctx context.Context, addr mac.Addr, snap *Snapshot) (provision.Plan, error) {
	m, err := l.Machine(ctx, addr)
	if err != nil {
		return provision.Plan{}, err
	}
	return m.Decide(snap.Lookup, snap.Base+"/catalog.toml").Plan, nil
}

// Arm records that a known machine fetched the boot file name with its
// MAC (the live kernel): a machine in a flash mode is then flashing.
// Unknown MACs change nothing.
func (l *Lab) Arm(ctx context.Context, addr mac.Addr, name string) error {
	_, err := l.store.Update(ctx, addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, nil
		}
		next := m.Arm()
		if next.Armed == m.Armed {
			return state.Change{Kind: state.EventBootFetch, Detail: map[string]string{"file": name}}, nil
		}
		return state.Change{Machine: &next, Kind: state.EventFlashArmed, Detail: map[string]string{"file": name}}, nil
	})
	if err != nil {
		return Errorf(Internal, "arming %s: %w", addr, err)
	}
	return nil
}

// report applies fn to a known machine as one transaction with its event.
func (l *Lab) report(ctx context.Context, addr mac.Addr, kind state.EventKind, detail any, fn func(provision.Machine) (provision.Machine, error)) error {
	_, err := l.store.Update(ctx, addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, state.ErrNotFound
		}
		next, err := fn(m)
		if err != nil {
			return state.Change{}, err
		}
		return state.Change{Machine: &next, Kind: kind, Detail: detail}, nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return Errorf(NotFound, "unknown machine %s", addr)
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
func (l *Lab) Report(ctx context.Context, addr mac.Addr, st provision.Status, remote string) error {
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
	err := l.report(ctx, addr, kind, detail, func(m provision.Machine) (provision.Machine, error) {
		if st.Status == provision.StatusDone && m.ImageRef != ref {
			return m, provision.ErrNotFlashing // saved meanwhile: a new flash
		}
		return m.Report(st, want, l.store.Now())
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
func (l *Lab) Inventory(ctx context.Context, addr mac.Addr, disks []json.RawMessage) error {
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
	err := l.report(ctx, addr, state.EventInventory, map[string]int{"disks": len(disks)}, func(m provision.Machine) (provision.Machine, error) {
		m.Inventory, m.Inventoried = body, true
		return m, nil
	})
	if err != nil && KindOf(err) == Internal {
		return Errorf(Internal, "recording %s's inventory: %w", addr, err)
	}
	return err
}
