package power

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/internal/redfishsim"
)

// The Redfish driver against the stand-in over HTTPS, its certificate
// verified: the power state, a one-time UEFI network boot, on, a cycle,
// off; a wrong password is ErrAuth, a closed port ErrUnreachable.
func TestRedfishAgainstStandIn(t *testing.T) {
	b := &redfishsim.BMC{User: "root", Password: "calvin-2"}
	ts := httptest.NewTLSServer(b)
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	addr := strings.TrimPrefix(ts.URL, "https://")
	ctx := context.Background()
	p, err := DialRedfish(ctx, addr, "root", "calvin-2", RedfishOptions{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	if on, err := p.On(ctx); err != nil || on {
		t.Fatalf("before: on %v, %v", on, err)
	}
	for _, step := range []func(context.Context) error{
		func(ctx context.Context) error { return p.NetworkBootOnce(ctx, true) }, p.PowerOn, p.Cycle, p.PowerOff,
	} {
		if err := step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if on, err := p.On(ctx); err != nil || on {
		t.Errorf("after power off: on %v, %v", on, err)
	}
	p.Close(ctx)
	if got := b.Changes(); got != "boot Pxe Once UEFI\nreset On\nreset PowerCycle\nreset ForceOff" {
		t.Errorf("the stand-in saw:\n%s", got)
	}
	if b.SessionOpen() {
		t.Error("Close left the session open")
	}
	if _, err := DialRedfish(ctx, addr, "root", "wrong", RedfishOptions{RootCAs: roots}); !errors.Is(err, ErrAuth) {
		t.Errorf("a wrong password: %v; want ErrAuth", err)
	}
	ts.Close()
	if _, err := DialRedfish(ctx, addr, "root", "calvin-2", RedfishOptions{RootCAs: roots, Timeout: time.Second}); !errors.Is(err, ErrUnreachable) {
		t.Errorf("a closed port: %v; want ErrUnreachable", err)
	}
}
