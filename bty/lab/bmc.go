package lab

import (
	"context"
	"errors"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/state"
)

// errNoBMCKey is a password to seal without a key to seal it with.
var errNoBMCKey = Errorf(Conflict, "bty-web has no key for BMC passwords: set bmc.key_file (BTY_BMC_KEY_FILE) to a file of 32 random bytes only its user can read (head -c 32 /dev/urandom > /etc/bty/bmc.key; chmod 600 /etc/bty/bmc.key) and restart it")

// SaveBMC sets a known machine's BMC. The password is sealed with the
// BMC key before it is stored and never logged; an empty one keeps the
// one set before.
func (l *Lab) SaveBMC(ctx context.Context, addr mac.Addr, b api.BMC, actor string) (provision.Machine, error) {
	next := provision.BMC{Protocol: b.Protocol, Address: b.Address, User: b.User}
	if err := provision.CheckBMC(next, b.Password); err != nil {
		return provision.Machine{}, Errorf(Invalid, "bmc: %v", err)
	}
	var sealed string
	if b.Password != "" {
		if l.cfg.BMCKey == nil {
			return provision.Machine{}, errNoBMCKey
		}
		var err error
		if sealed, err = provision.Seal(l.cfg.BMCKey, addr.String(), b.Password); err != nil {
			return provision.Machine{}, Errorf(Internal, "sealing the BMC password: %w", err)
		}
	}
	m, err := l.store.Update(ctx, addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			return state.Change{}, state.ErrNotFound
		}
		next.Sealed = sealed
		if sealed == "" {
			next.Sealed = m.BMC.Sealed
		}
		if next.Address == m.BMC.Address {
			next.Power, next.PowerAt = m.BMC.Power, m.BMC.PowerAt // the same BMC: what it last said stands
		}
		m.BMC = next
		return state.Change{Machine: &m, Kind: state.EventBMCSaved, Actor: actor,
			Detail: map[string]any{"protocol": next.Protocol, "address": next.Address, "user": next.User, "password_changed": sealed != ""}}, nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return m, Errorf(NotFound, "unknown machine %s: PUT /machines/%s first", addr, addr)
	}
	if err != nil {
		return m, Errorf(Internal, "saving %s's BMC: %w", addr, err)
	}
	return m, nil
}

// BMCPassword is a machine's BMC password, opened with the BMC key, for
// the power drivers alone.
func (l *Lab) BMCPassword(ctx context.Context, addr mac.Addr) (string, error) {
	m, err := l.Machine(ctx, addr)
	if err != nil {
		return "", err
	}
	if !m.BMC.HasPassword() {
		return "", Errorf(Conflict, "%s has no BMC password: PUT /machines/%s/bmc", addr, addr)
	}
	if l.cfg.BMCKey == nil {
		return "", errNoBMCKey
	}
	p, err := provision.Open(l.cfg.BMCKey, addr.String(), m.BMC.Sealed)
	if err != nil {
		return "", Errorf(Conflict, "%s: %v", addr, err)
	}
	return p, nil
}
