package power

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/common"
	"github.com/stmcginnis/gofish/redfish"
)

// Redfish is a session with a DMTF Redfish service (a BMC's HTTPS API),
// through github.com/stmcginnis/gofish, driving its one computer system.
type Redfish struct {
	addr string
	c    *gofish.APIClient
	uri  string // the system's @odata.id
}

// RedfishOptions bound a session and say whom to trust.
type RedfishOptions struct {
	Timeout time.Duration // each request; 0 means 10 s
	// RootCAs verifies the BMC's certificate; nil accepts any (most BMCs
	// ship a self-signed one: say so to the operator).
	RootCAs *x509.CertPool
}

// DialRedfish opens a session (Redfish's session service, X-Auth-Token)
// with the service at https://addr and finds its computer system.
func DialRedfish(ctx context.Context, addr, user, password string, o RedfishOptions) (*Redfish, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	hc := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: o.RootCAs, InsecureSkipVerify: o.RootCAs == nil}, //nolint:gosec // BMCs' self-signed certificates; RootCAs verifies
		DialContext:     (&net.Dialer{Timeout: o.Timeout}).DialContext,
	}}
	c, err := gofish.ConnectContext(ctx, gofish.ClientConfig{Endpoint: "https://" + addr, Username: user, Password: password, HTTPClient: hc})
	if err != nil {
		return nil, opError("opening a session", addr, classifyRedfish(err))
	}
	systems, err := c.Service.Systems()
	if err != nil {
		c.Logout()
		return nil, opError("listing its systems", addr, classifyRedfish(err))
	}
	if len(systems) != 1 {
		c.Logout()
		return nil, opError("finding its system", addr, fmt.Errorf("the service manages %d computer systems; bty drives a BMC of one", len(systems)))
	}
	return &Redfish{addr: addr, c: c, uri: systems[0].ODataID}, nil
}

// classifyRedfish tells credentials from the network, as classify does.
func classifyRedfish(err error) error {
	var re *common.Error
	var ne net.Error
	switch {
	case errors.As(err, &re) && (re.HTTPReturnedStatusCode == http.StatusUnauthorized || re.HTTPReturnedStatusCode == http.StatusForbidden):
		return fmt.Errorf("%w (HTTP %d): check them in bty-web", ErrAuth, re.HTTPReturnedStatusCode)
	case errors.As(err, &ne):
		return fmt.Errorf("%w (%v): check its address and that HTTPS reaches it", ErrUnreachable, err)
	}
	return err
}

func (p *Redfish) system() (*redfish.ComputerSystem, error) {
	s, err := redfish.GetComputerSystem(p.c, p.uri)
	if err != nil {
		return nil, classifyRedfish(err)
	}
	return s, nil
}

// On reports the system's power state.
func (p *Redfish) On(ctx context.Context) (bool, error) {
	s, err := p.system()
	if err != nil {
		return false, opError("reading the power state", p.addr, err)
	}
	return s.PowerState == redfish.OnPowerState, nil
}

// reset posts one of the service's reset types: the first of want it
// allows (a service lists what it supports).
func (p *Redfish) reset(what string, want ...redfish.ResetType) error {
	s, err := p.system()
	if err == nil {
		rt := want[0]
		for _, t := range want {
			if len(s.SupportedResetTypes) == 0 || slices.Contains(s.SupportedResetTypes, t) {
				rt = t
				break
			}
		}
		err = classifyRedfish(s.Reset(rt))
	}
	if err != nil {
		return opError(what, p.addr, err)
	}
	return nil
}

// PowerOn powers the system on.
func (p *Redfish) PowerOn(ctx context.Context) error { return p.reset("power on", redfish.OnResetType) }

// PowerOff cuts the power.
func (p *Redfish) PowerOff(ctx context.Context) error {
	return p.reset("power off", redfish.ForceOffResetType)
}

// SoftOff asks the operating system to shut down.
func (p *Redfish) SoftOff(ctx context.Context) error {
	return p.reset("soft power off", redfish.GracefulShutdownResetType)
}

// Cycle powers the system off and on (PowerCycle, else ForceRestart).
func (p *Redfish) Cycle(ctx context.Context) error {
	return p.reset("power cycle", redfish.PowerCycleResetType, redfish.ForceRestartResetType)
}

// NetworkBootOnce sets the boot source override: PXE, once, UEFI when
// uefi.
func (p *Redfish) NetworkBootOnce(ctx context.Context, uefi bool) error {
	mode := redfish.LegacyBootSourceOverrideMode
	if uefi {
		mode = redfish.UEFIBootSourceOverrideMode
	}
	s, err := p.system()
	if err == nil {
		err = classifyRedfish(s.SetBoot(redfish.Boot{BootSourceOverrideEnabled: redfish.OnceBootSourceOverrideEnabled,
			BootSourceOverrideTarget: redfish.PxeBootSourceOverrideTarget, BootSourceOverrideMode: mode}))
	}
	if err != nil {
		return opError("setting a one-time network boot", p.addr, err)
	}
	return nil
}

// Close ends the session.
func (p *Redfish) Close(ctx context.Context) error {
	p.c.Logout()
	return nil
}
