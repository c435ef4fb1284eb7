package state

import "slices"

// EventKind names what an audit event records. The kinds are the one list
// of what bty-web logs; GET /events and the web UI show them as written.
type EventKind string

// The event kinds: an operator's, then a machine's, then the images'.
const (
	EventLogin          EventKind = "login"
	EventLoginFailed    EventKind = "login.failed"
	EventLogout         EventKind = "logout"
	EventMachineSaved   EventKind = "machine.saved"
	EventMachineDeleted EventKind = "machine.deleted"
	EventBootUploaded   EventKind = "boot.uploaded"
	EventTemplatesSaved EventKind = "templates.saved"
	EventBMCSaved       EventKind = "machine.bmc_saved"
	EventPower          EventKind = "machine.power"        // a power action through the BMC
	EventPowerFailed    EventKind = "machine.power_failed" // the BMC refused, failed or did not answer
	EventReimage        EventKind = "machine.reimage"      // armed, one-time network boot, powered on or cycled
	EventRackReimage    EventKind = "rack.reimage"         // a rack reimage's end: how many machines, done, failed

	EventPXEOffer         EventKind = "pxe.offer"                  // a PXE boot's decision
	EventFlashArmed       EventKind = "flash.armed"                // the first report of a flash's live boot: the flash begins
	EventFlashDone        EventKind = "flash.done"                 // the flasher's success report
	EventFlashFailed      EventKind = "flash.failed"               // the flasher's failure report
	EventStatusRefused    EventKind = "flash.status_refused"       // a report for a machine not flashing now
	EventReportRefused    EventKind = "machine.report_refused"     // a report its live boot's token does not prove
	EventInventory        EventKind = "inventory"                  // a machine's disks reported
	EventDeployed         EventKind = "machine.deployed"           // the installed system phoned home
	EventPhoneHomeRefused EventKind = "machine.phone_home_refused" // a phone-home without the deployment's token
	EventDeployFailed     EventKind = "machine.deploy_failed"      // no phone-home by the deadline

	EventImageAdded   EventKind = "image.added"
	EventImageDeleted EventKind = "image.deleted"
)

// Origin says who caused an event: an operator's authenticated action, or
// traffic from the network, which anyone on it can send (PXE boots,
// machines' reports, failed logins). The audit log keeps
// limits.max_events of each, so machine traffic can never push an
// operator's record out of it.
type Origin string

// The origins.
const (
	OriginOperator Origin = "operator"
	OriginNetwork  Origin = "network"
)

// operatorKinds are the events only a logged-in operator causes.
var operatorKinds = []EventKind{EventLogin, EventLogout, EventMachineSaved, EventMachineDeleted, EventBootUploaded, EventImageAdded, EventImageDeleted, EventTemplatesSaved, EventBMCSaved, EventPower, EventPowerFailed, EventReimage, EventRackReimage}

// Origin is who causes events of kind k.
func (k EventKind) Origin() Origin {
	if slices.Contains(operatorKinds, k) {
		return OriginOperator
	}
	return OriginNetwork
}
