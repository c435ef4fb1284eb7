package provision

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Deployment is one flash of a machine seen through to its operating
// system: it begins with the flash (a new cloud-init instance-id), waits
// after a verified flash for the installed system's phone-home until its
// deadline, and ends deployed or failed.
type Deployment struct {
	InstanceID string      `json:"instance_id,omitempty"`
	Started    time.Time   `json:"started,omitzero"`  // the flash's first report
	Deadline   time.Time   `json:"deadline,omitzero"` // set by a verified flash: phone home by then
	State      DeployState `json:"state,omitempty"`
	Reason     string      `json:"reason,omitempty"`
	// What the installed system said when it phoned home.
	Hostname   string    `json:"hostname,omitempty"`
	HostKeys   []string  `json:"host_keys,omitempty"` // SHA256 fingerprints, as ssh-keygen -l prints them
	DeployedAt time.Time `json:"deployed_at,omitzero"`
}

// DeployState is where a deployment ended ("" while it runs).
type DeployState string

// The ends of a deployment.
const (
	Deployed     DeployState = "deployed"
	DeployFailed DeployState = "failed"
)

// begin starts a deployment: a new instance-id, so cloud-init on the
// flashed disk runs as a new instance.
func (m Machine) begin(now time.Time) Machine {
	b := make([]byte, 8)
	rand.Read(b)
	m.Deployment = Deployment{InstanceID: "bty-" + hex.EncodeToString(b), Started: now}
	return m
}

// AwaitPhoneHome sets a verified flash's deadline for the phone-home.
func (m Machine) AwaitPhoneHome(deadline time.Time) Machine {
	if m.Deployment.InstanceID != "" && m.Deployment.State == "" {
		m.Deployment.Deadline = deadline
	}
	return m
}

// Overdue reports whether m waits for a phone-home past its deadline.
func (m Machine) Overdue(now time.Time) bool {
	d := m.Deployment
	return d.State == "" && !d.Deadline.IsZero() && now.After(d.Deadline)
}

// Expire fails a deployment whose phone-home did not come in time.
func (m Machine) Expire(now time.Time) Machine {
	if m.Overdue(now) {
		m.Deployment.State = DeployFailed
		m.Deployment.Reason = fmt.Sprintf("no phone-home from the installed system by %s (deploy.timeout_seconds after its flash): it did not boot from its disk, cloud-init did not run, or it cannot reach bty-web",
			m.Deployment.Deadline.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return m
}

// ErrNotDeploying refuses a phone-home for another deployment than the
// machine's current one (an old token, or none under way).
var ErrNotDeploying = errors.New("this phone-home is not from the machine's current deployment")

// PhoneHome records the installed system's phone-home for instanceID
// (a late one too: the system did come up).
func (m Machine) PhoneHome(instanceID, hostname string, hostKeys []string, now time.Time) (Machine, error) {
	d := m.Deployment
	if d.InstanceID == "" || instanceID != d.InstanceID || d.State == Deployed {
		return m, ErrNotDeploying
	}
	d.State, d.Reason, d.Hostname, d.HostKeys, d.DeployedAt = Deployed, "", hostname, hostKeys, now
	m.Deployment = d
	return m, nil
}

// Lifecycle is the one word an operator reads for where a machine stands,
// and why when it failed: armed (set to flash, not booted yet), booting,
// flashing, verified (or written), rebooting (waiting for the installed
// system to phone home), deployed, failed.
func (m Machine) Lifecycle() (state, why string) {
	switch {
	case m.Deployment.State == Deployed:
		return "deployed", ""
	case m.Deployment.State == DeployFailed:
		return "failed", m.Deployment.Reason
	case m.Flash.State == FlashFailed:
		return "failed", m.Flash.Reason
	case m.Flash.State == FlashBooting:
		return "booting", ""
	case m.Flash.State == FlashRunning:
		return "flashing", ""
	case (m.Flash.State == FlashVerified || m.Flash.State == FlashWritten) && !m.Deployment.Deadline.IsZero():
		return "rebooting", ""
	case m.Flash.State == FlashVerified || m.Flash.State == FlashWritten:
		return string(m.Flash.State), ""
	case m.IsFlashMode():
		return "armed", ""
	}
	return "", ""
}
