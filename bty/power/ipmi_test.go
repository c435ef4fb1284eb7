package power

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bty-lab/bty/internal/testenv"
)

// dial opens a session with the simulator (IPMISim returns once it is
// bound).
func dial(t *testing.T, addr, user, password string) (*IPMI, error) {
	t.Helper()
	return DialIPMI(context.Background(), addr, user, password, IPMIOptions{Timeout: time.Second, Retries: 1})
}

// Against OpenIPMI's simulator: the power state, on, a one-time UEFI
// network boot, off, and a cycle reach the chassis, in that order.
func TestIPMIAgainstSimulator(t *testing.T) {
	addr, dir := testenv.IPMISim(t, "admin", "s3cret-pass")
	p, err := dial(t, addr, "admin", "s3cret-pass")
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "ipmi_sim.out"))
		t.Fatalf("%v\nipmi_sim:\n%s", err, b)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	if on, err := p.On(ctx); err != nil || on {
		t.Fatalf("before: on %v, %v", on, err)
	}
	if err := p.NetworkBootOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := p.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	if on, err := p.On(ctx); err != nil || !on {
		t.Errorf("after power on: on %v, %v", on, err)
	}
	if err := p.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testenv.ChassisLog(dir); got != "boot pxe\npower 1\npower 0" {
		t.Errorf("the chassis saw:\n%s\nwant boot pxe, power 1, power 0", got)
	}
}

// A wrong password and a BMC that does not answer are told apart.
func TestIPMIRefusals(t *testing.T) {
	addr, _ := testenv.IPMISim(t, "admin", "s3cret-pass")
	if p, err := dial(t, addr, "admin", "wrong-pass"); !errors.Is(err, ErrAuth) {
		if p != nil {
			p.Close(context.Background())
		}
		t.Errorf("a wrong password: %v; want ErrAuth", err)
	}
	start := time.Now()
	_, err := DialIPMI(context.Background(), fmt.Sprintf("127.0.0.1:%d", testenv.FreeUDPPort(t)), "admin", "x", IPMIOptions{Timeout: 500 * time.Millisecond, Retries: 1})
	if !errors.Is(err, ErrUnreachable) || time.Since(start) > 10*time.Second {
		t.Errorf("nothing listening: %v after %s; want ErrUnreachable", err, time.Since(start))
	}
}
