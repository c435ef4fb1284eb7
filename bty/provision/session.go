package provision

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a machine's live boot. PXE clients carry no credentials, so
// the script that starts a live environment hands it a token, once (as
// Ironic hands its agent one); every report of that live environment must
// carry it. Only the token's sha256 is stored. A second live boot is not
// offered while one is under way: whoever fetched the script first holds
// the machine until its live environment ends, goes quiet, or the
// operator saves the machine.
type Session struct {
	TokenSHA256 string `json:"token_sha256,omitempty"`
	// Action is what the live boot is for: flash, inventory, interactive.
	Action string `json:"action,omitempty"`
	// Boot is what the PXE client said of itself; it becomes the
	// machine's Arch and Firmware with the first report the token proves.
	Boot   Boot      `json:"boot"`
	Issued time.Time `json:"issued,omitzero"`
	// Seen is when a report last proved the token, Remote where from.
	Seen   time.Time `json:"seen,omitzero"`
	Remote string    `json:"remote,omitempty"`
	// Ended: the live environment sent its last report (done, failed or
	// its inventory); the token proves nothing more.
	Ended bool `json:"ended,omitempty"`
}

// DefaultSessionIdle is how long a live boot holds its machine without a
// report (config limits.boot_session_seconds): long enough for a slow link
// to fetch the live system, short enough that a machine that lost power
// mid-flash gets a new live boot within minutes.
const DefaultSessionIdle = 10 * time.Minute

// Outstanding reports whether the live boot still holds its machine at now:
// a token issued, not ended, and not quiet for idle or longer.
func (s Session) Outstanding(now time.Time, idle time.Duration) bool {
	last := s.Issued
	if s.Seen.After(last) {
		last = s.Seen
	}
	return s.TokenSHA256 != "" && !s.Ended && now.Sub(last) < idle
}

// NewToken makes a live boot's token: 256 random bits, in hex (safe on a
// kernel command line and in a GRUB or iPXE script), and its sha256.
func NewToken() (token, sum string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("making a boot token: %w", err)
	}
	token = hex.EncodeToString(b)
	return token, tokenSum(token), nil
}

func tokenSum(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// Issue starts a live boot for action (d.Action's name) with the token
// whose sha256 is sum. A flash shows as booting until its first report.
func (m Machine) Issue(sum string, action Action, b Boot, now time.Time) Machine {
	m.Session = Session{TokenSHA256: sum, Action: action.String(), Boot: b, Issued: now}
	if action == BootFlasher {
		m.Flash = Flash{State: FlashBooting}
	}
	return m
}

// The refusals of a report's token.
var (
	ErrNoSession    = errors.New("no live boot of this machine is under way (its boot script was not fetched, or the operator saved the machine since)")
	ErrBadToken     = errors.New("the report's token is not the one this machine's live boot was given")
	ErrSessionEnded = errors.New("this machine's live boot already sent its last report")
)

// Check reports whether token proves m's live boot, changing nothing (for
// reads such as the plan).
func (m Machine) Check(token string) error {
	s := m.Session
	switch {
	case s.TokenSHA256 == "":
		return ErrNoSession
	case subtle.ConstantTimeCompare([]byte(tokenSum(token)), []byte(s.TokenSHA256)) != 1:
		return ErrBadToken
	case s.Ended:
		return ErrSessionEnded
	}
	return nil
}

// Authenticate checks a report's token and records it: when and where
// from it came. The first report a token proves makes what the PXE client
// said of itself the machine's, and arms a flash: the machine really
// booted the flasher.
func (m Machine) Authenticate(token, remote string, now time.Time) (Machine, error) {
	if err := m.Check(token); err != nil {
		return m, err
	}
	if m.Session.Seen.IsZero() {
		m = m.Booted(m.Session.Boot)
		if m.Session.Action == BootFlasher.String() {
			m = m.Arm().begin(now)
		}
	}
	m.Session.Seen, m.Session.Remote = now, remote
	return m, nil
}

// End records the live boot's last report.
func (m Machine) End() Machine {
	m.Session.Ended = true
	return m
}

// Spends reports whether a PXE boot from remote may take the local boot
// that alternates with a live one (flash-always after its flash, inventory
// after its report), which changes the next boot back to a live one. Only
// the address the live boot reported from may: the disk's boot proves
// nothing else, and a stranger's GET must not make the machine flash
// again. A machine with no live boot on record (state from before tokens)
// spends as before.
func (m Machine) Spends(remote string) bool {
	return m.Session.Remote == "" || m.Session.Remote == remote
}
