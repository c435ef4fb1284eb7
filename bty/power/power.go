// Package power drives a machine's BMC: its power state, on, off, cycle,
// and a one-time network boot. Each protocol is a Driver behind one small
// interface; bty-web picks it by the machine's BMC settings.
package power

import (
	"context"
	"errors"
	"fmt"
)

// Driver is one BMC session's operations.
type Driver interface {
	// On reports whether the machine is powered on.
	On(ctx context.Context) (bool, error)
	// PowerOn, PowerOff (hard) and Cycle change the power; SoftOff asks
	// the operating system to shut down (ACPI), which it may ignore.
	PowerOn(ctx context.Context) error
	PowerOff(ctx context.Context) error
	SoftOff(ctx context.Context) error
	Cycle(ctx context.Context) error
	// NetworkBootOnce makes the next boot a network (PXE) boot, UEFI's
	// when uefi, once: the boot after it is the machine's own order.
	NetworkBootOnce(ctx context.Context, uefi bool) error
	Close(ctx context.Context) error
}

// ErrAuth is a BMC that refused the user or the password.
var ErrAuth = errors.New("the BMC refused the user or password")

// ErrUnreachable is a BMC that did not answer.
var ErrUnreachable = errors.New("the BMC did not answer")

// opError says which BMC operation failed, and how.
func opError(op, addr string, err error) error {
	return fmt.Errorf("%s on BMC %s: %w", op, addr, err)
}
