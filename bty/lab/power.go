package lab

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/power"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

// BMCConfig bounds what bty-web asks of BMCs.
type BMCConfig struct {
	Timeout     time.Duration // each exchange (bmc.timeout_seconds)
	Retries     int           // resends of an unanswered exchange
	MinInterval time.Duration // between two sessions with one BMC: many BMCs refuse a burst
	SoftOff     time.Duration // how long a soft power-off may take before the power is cut
	// RedfishCAs verify Redfish services' certificates (bmc.redfish_ca_file);
	// nil accepts any, as most BMCs' certificates are self-signed.
	RedfishCAs *x509.CertPool
	// Stagger is the wait between two waves of a rack reimage.
	Stagger time.Duration
}

// Dial opens a session with a machine's BMC; tests and other protocols
// plug in here.
type Dial func(ctx context.Context, b provision.BMC, password string, c BMCConfig) (power.Driver, error)

// DialBMC is the drivers by protocol.
func DialBMC(ctx context.Context, b provision.BMC, password string, c BMCConfig) (power.Driver, error) {
	switch b.Protocol {
	case provision.BMCIPMI:
		return power.DialIPMI(ctx, b.Address, b.User, password, power.IPMIOptions{Timeout: c.Timeout, Retries: c.Retries})
	case provision.BMCRedfish:
		return power.DialRedfish(ctx, b.Address, b.User, password, power.RedfishOptions{Timeout: c.Timeout, RootCAs: c.RedfishCAs})
	}
	return nil, fmt.Errorf("no driver for BMC protocol %q", b.Protocol)
}

// The power actions an operator may ask for.
const (
	PowerStatus = "status"
	PowerOn     = "on"
	PowerOff    = "off" // soft, then hard after BMCConfig.SoftOff
	PowerCycle  = "cycle"
)

// pacer keeps BMCConfig.MinInterval between sessions with one BMC.
type pacer struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (p *pacer) wait(ctx context.Context, addr string, every time.Duration) error {
	p.mu.Lock()
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	at := p.last[addr].Add(every)
	now := time.Now()
	if at.Before(now) {
		at = now
	}
	p.last[addr] = at
	p.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// session runs fn with a session on the machine's BMC; every failure is
// an Upstream error naming the BMC, and an event on the machine.
func (l *Lab) session(ctx context.Context, m provision.Machine, what, actor string, fn func(power.Driver) error) error {
	if m.BMC.Protocol == "" {
		return Errorf(Conflict, "%s has no BMC: PUT /machines/%s/bmc", m.MAC, m.MAC)
	}
	password, err := l.BMCPassword(ctx, m.MAC)
	if err != nil {
		return err
	}
	if err := l.bmcPace.wait(ctx, m.BMC.Address, l.cfg.BMC.MinInterval); err != nil {
		return Errorf(Internal, "waiting for BMC %s: %w", m.BMC.Address, err)
	}
	d, err := l.dial(ctx, m.BMC, password, l.cfg.BMC)
	if err == nil {
		err = fn(d)
		d.Close(ctx)
	}
	if err != nil {
		l.store.Log(ctx, state.EventPowerFailed, m.MAC, actor, map[string]string{"action": what, "bmc": m.BMC.Address, "error": err.Error()})
		return Errorf(Upstream, "%s: %s: %w", m.MAC, what, err)
	}
	return nil
}

// Power carries out a power action on a known machine through its BMC
// and says whether it is on afterwards.
func (l *Lab) Power(ctx context.Context, addr mac.Addr, action, actor string) (on bool, err error) {
	m, err := l.Machine(ctx, addr)
	if err != nil {
		return false, err
	}
	switch action {
	case PowerStatus, PowerOn, PowerOff, PowerCycle:
	default:
		return false, Errorf(Invalid, "power action %q: want status, on, off or cycle", action)
	}
	err = l.session(ctx, m, "power "+action, actor, func(d power.Driver) error {
		var err error
		switch action {
		case PowerOn:
			err = d.PowerOn(ctx)
		case PowerOff:
			err = l.off(ctx, d)
		case PowerCycle:
			err = d.Cycle(ctx)
		}
		if err != nil {
			return err
		}
		on, err = d.On(ctx)
		return err
	})
	if err != nil {
		return on, err
	}
	var kind state.EventKind
	if action != PowerStatus {
		kind = state.EventPower
	}
	return on, l.powered(ctx, addr, on, kind, actor, map[string]any{"action": action, "on": on})
}

// powered records what a machine's BMC said of its power, with the event
// of the action that asked (kind "" for none).
func (l *Lab) powered(ctx context.Context, addr mac.Addr, on bool, kind state.EventKind, actor string, detail any) error {
	_, err := l.store.Update(ctx, addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, nil
		}
		m.BMC = m.BMC.Powered(on, l.store.Now())
		return state.Change{Machine: &m, Kind: kind, Actor: actor, Detail: detail}, nil
	})
	if err != nil {
		return Errorf(Internal, "recording %s's power: %w", addr, err)
	}
	return nil
}

// off asks the system to shut down, and cuts the power when it has not
// after BMCConfig.SoftOff.
func (l *Lab) off(ctx context.Context, d power.Driver) error {
	if on, err := d.On(ctx); err != nil || !on {
		return err
	}
	if err := d.SoftOff(ctx); err == nil {
		deadline := time.Now().Add(l.cfg.BMC.SoftOff)
		for time.Now().Before(deadline) {
			if on, err := d.On(ctx); err == nil && !on {
				return nil
			}
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	return d.PowerOff(ctx)
}

// Reimage arms a known machine's one flash of the image, sets a one-time
// network boot and powers it on (or cycles it when it is on): from there
// the deployment's lifecycle takes over. When its BMC refuses, the
// machine's settings are put back, so it is not left armed with nothing
// to start it, and the refusal is on record.
func (l *Lab) Reimage(ctx context.Context, addr mac.Addr, req api.Reimage, actor string, snap *Snapshot) (provision.Machine, error) {
	m, err := l.Machine(ctx, addr)
	if err != nil {
		return m, err
	}
	if !catalog.IsSHA256(req.ImageRef) {
		return m, Errorf(Invalid, "bty_image_ref %q: want the ref of an image (GET /images)", req.ImageRef)
	}
	if _, ok := snap.Lookup(req.ImageRef); !ok {
		return m, Errorf(Invalid, "image ref %s is unknown (GET /images)", req.ImageRef)
	}
	serial := req.TargetDiskSerial
	if serial == "" {
		serial = m.TargetDiskSerial
	}
	if serial == "" {
		return m, Errorf(Invalid, "%s has no target_disk_serial: give one (its inventory lists its disks)", addr)
	}
	if m.BMC.Protocol == "" {
		return m, Errorf(Conflict, "%s has no BMC: PUT /machines/%s/bmc", addr, addr)
	}
	before := provision.Settings{ImageRef: m.ImageRef, BootMode: m.BootMode, TargetDiskSerial: m.TargetDiskSerial, Labels: m.Labels,
		CloudInit: &m.CloudInit, NetworkConfig: m.NetworkConfig}
	after := before
	after.BootMode, after.ImageRef, after.TargetDiskSerial = provision.ModeFlashOnce, req.ImageRef, serial
	if _, err := l.SaveMachine(ctx, addr, after, actor); err != nil {
		return m, err
	}
	var how string
	err = l.session(ctx, m, "reimage", actor, func(d power.Driver) error {
		if err := d.NetworkBootOnce(ctx, m.Firmware != "pcbios"); err != nil {
			return err
		}
		on, err := d.On(ctx)
		if err != nil {
			return err
		}
		if on {
			how = "power cycle"
			return d.Cycle(ctx)
		}
		how = "power on"
		return d.PowerOn(ctx)
	})
	if err != nil {
		if _, rerr := l.SaveMachine(ctx, addr, before, actor); rerr != nil {
			return m, errors.Join(err, rerr)
		}
		return m, err
	}
	if err := l.powered(ctx, addr, true, state.EventReimage, actor, map[string]string{"image": req.ImageRef, "target_disk_serial": serial, "how": how}); err != nil {
		return m, err
	}
	return l.Machine(ctx, addr)
}

// RackPlan is a rack reimage's machines: those whose labels match every
// key=value of the selector ("rack=r1,row=b"), with why any of them
// cannot take part (no BMC, no target disk).
type RackPlan struct {
	Machines []mac.Addr          `json:"machines"`
	Skipped  map[mac.Addr]string `json:"skipped,omitempty"`
}

// PlanRack finds a selector's machines for a reimage with image ref.
func (l *Lab) PlanRack(ctx context.Context, selector, ref string, snap *Snapshot) (RackPlan, error) {
	if _, ok := snap.Lookup(ref); !catalog.IsSHA256(ref) || !ok {
		return RackPlan{}, Errorf(Invalid, "image ref %q is unknown (GET /images)", ref)
	}
	want := map[string]string{}
	for _, kv := range strings.Split(selector, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return RackPlan{}, Errorf(Invalid, "selector %q: want key=value[,key=value], e.g. rack=r1", selector)
		}
		want[k] = v
	}
	ms, err := l.store.Machines(ctx)
	if err != nil {
		return RackPlan{}, Errorf(Internal, "reading the machines: %w", err)
	}
	plan := RackPlan{Skipped: map[mac.Addr]string{}}
	for _, m := range ms {
		match := true
		for k, v := range want {
			match = match && m.Labels[k] == v
		}
		switch {
		case !match:
		case m.BMC.Protocol == "":
			plan.Skipped[m.MAC] = "no BMC"
		case m.TargetDiskSerial == "":
			plan.Skipped[m.MAC] = "no target_disk_serial"
		default:
			plan.Machines = append(plan.Machines, m.MAC)
		}
	}
	if len(plan.Machines) == 0 {
		return plan, Errorf(Invalid, "selector %q matches no machine that has a BMC and a target disk", selector)
	}
	return plan, nil
}

// ReimageRack reimages a plan's machines, at most parallel at once and
// every wave of them stagger after the last (a rack's power budget: not
// every machine's inrush at once); each machine's outcome is its own
// event, and the whole is one more.
func (l *Lab) ReimageRack(ctx context.Context, plan RackPlan, ref string, parallel int, actor string, snap *Snapshot) {
	stagger := l.cfg.BMC.Stagger
	var done, failed int
	for i := 0; i < len(plan.Machines); i += parallel {
		if i > 0 {
			t := time.NewTimer(stagger)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		wave := plan.Machines[i:min(i+parallel, len(plan.Machines))]
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, addr := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Reimage(ctx, addr, api.Reimage{ImageRef: ref}, actor, snap)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					l.log.Warn("rack reimage: a machine failed", "mac", addr, "err", err)
				} else {
					done++
				}
			}()
		}
		wg.Wait()
	}
	l.store.Log(ctx, state.EventRackReimage, "", actor, map[string]any{"machines": len(plan.Machines), "reimaged": done, "failed": failed, "skipped": len(plan.Skipped)})
}
