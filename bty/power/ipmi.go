package power

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// IPMI is a session with an IPMI v2.0 BMC over LAN (RMCP+, "lanplus"),
// through github.com/bougou/go-ipmi.
type IPMI struct {
	addr string
	c    *client.Client
}

// IPMIOptions bound a session's waits.
type IPMIOptions struct {
	Timeout time.Duration // each exchange; 0 means 5 s
	Retries int           // resends of an unanswered exchange; 0 means 2
}

// DialIPMI opens a session with the BMC at addr (host or host:port, port
// 623 by default) as user, with the administrator privilege chassis
// control needs.
func DialIPMI(ctx context.Context, addr, user, password string, o IPMIOptions) (*IPMI, error) {
	host, portS, err := net.SplitHostPort(addr)
	if err != nil {
		host, portS = addr, "623"
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return nil, fmt.Errorf("BMC address %q: %w", addr, err)
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	c, err := client.NewClient(host, port, user, password)
	if err != nil {
		return nil, opError("connecting", addr, err)
	}
	c.WithTimeout(o.Timeout).WithRetry(o.Retries).WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	if err := c.Connect(ctx); err != nil {
		return nil, opError("opening a session", addr, classify(err))
	}
	return &IPMI{addr: addr, c: c}, nil
}

// classify names the two failures an operator acts on differently: the
// credentials, and the network.
func classify(err error) error {
	msg := strings.ToLower(err.Error())
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline"),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "no route"):
		return fmt.Errorf("%w (%v): check its address and that UDP 623 reaches it", ErrUnreachable, err)
	case strings.Contains(msg, "unauthorized"), strings.Contains(msg, "password"), strings.Contains(msg, "rakp"),
		strings.Contains(msg, "integrity"), strings.Contains(msg, "invalid user"), strings.Contains(msg, "name"):
		return fmt.Errorf("%w (%v): check them in bty-web", ErrAuth, err)
	}
	return err
}

// On reports the chassis power state.
func (p *IPMI) On(ctx context.Context) (bool, error) {
	st, err := p.c.GetChassisStatus(ctx)
	if err != nil {
		return false, opError("reading the power state", p.addr, classify(err))
	}
	return st.PowerIsOn, nil
}

func (p *IPMI) control(ctx context.Context, what string, c chassis.ChassisControl) error {
	if _, err := p.c.ChassisControl(ctx, c); err != nil {
		return opError(what, p.addr, classify(err))
	}
	return nil
}

// PowerOn powers the machine on.
func (p *IPMI) PowerOn(ctx context.Context) error {
	return p.control(ctx, "power on", chassis.ChassisControlPowerUp)
}

// PowerOff cuts the power.
func (p *IPMI) PowerOff(ctx context.Context) error {
	return p.control(ctx, "power off", chassis.ChassisControlPowerDown)
}

// SoftOff asks the operating system to shut down.
func (p *IPMI) SoftOff(ctx context.Context) error {
	return p.control(ctx, "soft power off", chassis.ChassisControlSoftShutdown)
}

// Cycle powers the machine off and on again.
func (p *IPMI) Cycle(ctx context.Context) error {
	return p.control(ctx, "power cycle", chassis.ChassisControlPowerCycle)
}

// NetworkBootOnce sets the boot flags: PXE, once, EFI when uefi.
func (p *IPMI) NetworkBootOnce(ctx context.Context, uefi bool) error {
	bt := types.BIOSBootTypeLegacy
	if uefi {
		bt = types.BIOSBootTypeEFI
	}
	if err := p.c.SetBootDevice(ctx, types.BootDeviceSelectorForcePXE, bt, false); err != nil {
		return opError("setting a one-time network boot", p.addr, classify(err))
	}
	return nil
}

// Close ends the session.
func (p *IPMI) Close(ctx context.Context) error { return p.c.Close(ctx) }
