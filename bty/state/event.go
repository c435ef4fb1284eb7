package state

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

	EventPXEOffer      EventKind = "pxe.offer"            // a PXE boot's decision
	EventBootFetch     EventKind = "boot.fetch"           // a live kernel fetched by an armed machine
	EventFlashArmed    EventKind = "flash.armed"          // the live kernel fetched: a flash begins
	EventFlashDone     EventKind = "flash.done"           // the flasher's success report
	EventFlashFailed   EventKind = "flash.failed"         // the flasher's failure report
	EventStatusRefused EventKind = "flash.status_refused" // a report for a machine not flashing now
	EventInventory     EventKind = "inventory"            // a machine's disks reported

	EventImageAdded   EventKind = "image.added"
	EventImageDeleted EventKind = "image.deleted"
)
