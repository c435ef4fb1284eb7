// Package provision is bty-web's model of a machine and the rules of its
// boot modes: what a machine does on each PXE boot, what its live
// environment is told to do, and how reports and operator edits change it.
// It is pure logic; package state persists it and package web serves it.
//
// The alternation of the flash modes rests on two bits. Armed is set by the
// first report of the flasher's live boot (its token proves the machine
// really booted the flasher: see Session); Flashed when the flasher
// reports success. Armed and flashed
// means the disk holds the image: the next boot is from disk. In
// bty-flash-always that boot clears both bits, so flash and disk boots
// alternate; in bty-flash-once they stay until the operator saves the
// machine again.
package provision

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/mac"
)

// Mode is a machine's boot mode.
type Mode string

// The boot modes of docs/design.md ("Boot modes").
const (
	ModeExit        Mode = "ipxe-exit"
	ModeFlashAlways Mode = "bty-flash-always"
	ModeFlashOnce   Mode = "bty-flash-once"
	ModeInventory   Mode = "bty-inventory"
	ModeTUI         Mode = "bty-tui"
)

// Modes lists every valid mode.
var Modes = []Mode{ModeExit, ModeFlashAlways, ModeFlashOnce, ModeInventory, ModeTUI}

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown boot_mode %q; want one of ipxe-exit, bty-flash-always, bty-flash-once, bty-inventory, bty-tui", s)
}

// Machine is one machine bty-web knows, by MAC.
type Machine struct {
	MAC              mac.Addr          `json:"mac"`
	ImageRef         string            `json:"bty_image_ref"`
	BootMode         Mode              `json:"boot_mode"`
	TargetDiskSerial string            `json:"target_disk_serial"`
	Labels           map[string]string `json:"labels"`
	Armed            bool              `json:"armed"`
	Flashed          bool              `json:"flashed"`
	Inventoried      bool              `json:"inventory_received"`
	Inventory        json.RawMessage   `json:"inventory,omitempty"`
	// Arch and Firmware are what the machine said of itself on its last
	// PXE boot ("" until it said): see Boot.
	Arch     string `json:"arch"`
	Firmware string `json:"firmware"`
	// Flash is what the machine's flasher last reported of its flash.
	Flash Flash `json:"flash"`
	// Session is the machine's live boot (its token's digest is kept out
	// of every answer).
	Session Session `json:"-"`
	// CloudInit: a flash writes the machine's cloud-init seed (CIDATA) and
	// waits for the installed system to phone home; NetworkConfig is its
	// network-config (version 2), "" for none.
	CloudInit     bool   `json:"cloud_init"`
	NetworkConfig string `json:"network_config"`
	// Deployment is the machine's current (or last) deployment.
	Deployment Deployment `json:"deployment"`
	// BMC is how bty-web reaches the machine's BMC (its password sealed).
	BMC       BMC       `json:"bmc,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FlashState is where a machine's flash stands, as its reports tell it.
type FlashState string

// The flash states. A flash is "verified" only when the flasher checked
// the image's sha256 against the one the plan gave; "written" when there
// was none to check.
const (
	FlashNone     FlashState = ""         // no flash since the machine was saved
	FlashBooting  FlashState = "booting"  // its live boot was offered for a flash
	FlashRunning  FlashState = "flashing" // progress reports arrive
	FlashVerified FlashState = "verified" // done, sha256 checked
	FlashWritten  FlashState = "written"  // done, no sha256 known
	FlashFailed   FlashState = "failed"   // the flasher reported a failure
)

// Flash is a machine's current (or last) flash as its reports told it:
// enough for an operator to see it advance and when it will end.
type Flash struct {
	State FlashState `json:"state"`
	// Stage is the flasher's current stage ("download", "write").
	Stage string `json:"stage,omitempty"`
	// Done and Total are the stage's bytes (Total 0: unknown, as for a
	// compressed stream's output); Fraction is the stage's progress, 0 to 1.
	Done     int64   `json:"bytes_done"`
	Total    int64   `json:"bytes_total"`
	Fraction float64 `json:"fraction"`
	// Elapsed is how long the stage has run, as the flasher measured it.
	Elapsed float64 `json:"elapsed_seconds"`
	// SHA256 is the digest a "verified" flash checked.
	SHA256    string    `json:"sha256,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Rate is the stage's average speed in bytes per second (0: unknown).
func (f Flash) Rate() float64 {
	if f.Elapsed <= 0 || f.Done <= 0 {
		return 0
	}
	return float64(f.Done) / f.Elapsed
}

// ETA is how long the stage will still take at its average pace (false:
// unknown).
func (f Flash) ETA() (time.Duration, bool) {
	if f.State != FlashRunning || f.Fraction <= 0 || f.Fraction > 1 || f.Elapsed <= 0 {
		return 0, false
	}
	left := f.Elapsed * (1 - f.Fraction) / f.Fraction
	return time.Duration(left * float64(time.Second)).Round(time.Second), true
}

// Boot is what a PXE client says of itself when it asks for its script:
// the chain script passes iPXE's own ${buildarch} (corrected to x86_64 when
// a 32-bit BIOS iPXE, undionly.kpxe, runs on a 64-bit CPU) and ${platform}.
// iPXE's view is used rather than DHCP option 93, because it is what runs
// the next kernel, and option 93 reaches bty-web only through a DHCP server
// it does not run.
type Boot struct {
	Arch     string // x86_64, arm64, i386, riscv64, ...
	Firmware string // efi or pcbios
}

// DefaultArch is the architecture of a machine that never said (one
// chained by an older bootstrap script): the one bty has always served.
const DefaultArch = "x86_64"

var bootWord = regexp.MustCompile(`^[a-z0-9_]{1,16}$`)

// ParseBoot validates what a client said; both may be empty (not said).
func ParseBoot(arch, firmware string) (Boot, error) {
	if arch != "" && !bootWord.MatchString(arch) {
		return Boot{}, fmt.Errorf("arch %q: want iPXE's ${buildarch}, e.g. x86_64 or arm64", arch)
	}
	switch firmware {
	case "", "efi", "pcbios":
	default:
		return Boot{}, fmt.Errorf("platform %q: want efi or pcbios (iPXE's ${platform})", firmware)
	}
	return Boot{Arch: arch, Firmware: firmware}, nil
}

// Booted records what m said of itself on this boot.
func (m Machine) Booted(b Boot) Machine {
	if b.Arch != "" {
		m.Arch = b.Arch
	}
	if b.Firmware != "" {
		m.Firmware = b.Firmware
	}
	return m
}

// LiveArch is the architecture m's live environment must be built for.
func (m Machine) LiveArch() string { return cmp.Or(m.Arch, DefaultArch) }

// New is the machine created when an unknown MAC PXE-boots.
func New(addr mac.Addr) Machine {
	return Machine{MAC: addr, BootMode: ModeInventory, Labels: map[string]string{}, CloudInit: true}
}

// Image is what a flash plan needs to know of an image.
type Image struct {
	Ref    string
	Name   string
	URL    string // where the live environment fetches it
	Format catalog.Format
	SHA256 string
}

// flashImage checks a flash mode's settings and finds its image, or says
// why it cannot flash.
func (m Machine) flashImage(lookup func(ref string) (Image, bool)) (Image, string) {
	switch {
	case m.ImageRef == "":
		return Image{}, "no bty_image_ref is set for " + m.MAC.String()
	case m.TargetDiskSerial == "":
		return Image{}, "no target_disk_serial is set for " + m.MAC.String()
	}
	img, ok := lookup(m.ImageRef)
	if !ok {
		return Image{}, "image ref " + m.ImageRef + " is unknown"
	}
	return img, ""
}

// IsFlashMode reports whether m is in one of the flash modes.
func (m Machine) IsFlashMode() bool {
	return m.BootMode == ModeFlashAlways || m.BootMode == ModeFlashOnce
}

// Action is what a machine does on a PXE boot.
type Action int

// Actions.
const (
	BootLocal       Action = iota // boot the local disk
	BootFlasher                   // the live environment, flashing
	BootInventory                 // the live environment, reporting disks
	BootInteractive               // the live environment, interactive
	BootRefused                   // a flash mode that cannot flash: say why, boot the disk
)

// String names the action (in events and logs).
func (a Action) String() string {
	return [...]string{"local", "flash", "inventory", "interactive", "refused"}[a]
}

// PlanMode is what the live environment is told to do.
type PlanMode string

// The plan modes.
const (
	PlanExit        PlanMode = "exit"
	PlanFlash       PlanMode = "flash"
	PlanInventory   PlanMode = "inventory"
	PlanInteractive PlanMode = "interactive"
)

// Plan is what the live environment is told to do (GET /pxe/{mac}/plan).
type Plan struct {
	Mode             PlanMode       `json:"mode"`
	Image            string         `json:"image,omitempty"`
	TargetDiskSerial string         `json:"target_disk_serial,omitempty"`
	SHA256           string         `json:"sha256,omitempty"`
	Format           catalog.Format `json:"format,omitempty"`
	Catalog          string         `json:"catalog,omitempty"`
}

// Decision is everything one machine's state decides: what its next PXE
// boot does, how that boot changes its state, and what its live
// environment is told while it runs.
type Decision struct {
	Action Action
	Reason string  // for BootRefused
	Image  Image   // for BootFlasher
	Next   Machine // the state after the PXE boot
	Plan   Plan
	// Token is the new live boot's token (set by bty-web's lab.Boot), for
	// the boot script alone: it is stored only as its sha256.
	Token string
}

// Decide is the one place the boot modes' rules live; catalogURL is where
// the interactive mode finds the catalog. It changes nothing: Next is the
// state a PXE boot leaves, for the caller to store.
func (m Machine) Decide(lookup func(ref string) (Image, bool), catalogURL string) Decision {
	d := Decision{Action: BootLocal, Next: m, Plan: Plan{Mode: PlanExit}}
	switch m.BootMode {
	case ModeFlashAlways, ModeFlashOnce:
		img, why := m.flashImage(lookup)
		switch {
		case why != "":
			d.Action, d.Reason = BootRefused, why
		case m.Armed && m.Flashed:
			// The disk holds the image: boot it. Flash-always then flashes
			// again on the boot after; flash-once waits for the operator.
			if m.BootMode == ModeFlashAlways {
				d.Next.Armed, d.Next.Flashed = false, false
			}
		default:
			d.Action, d.Image = BootFlasher, img
			d.Plan = Plan{Mode: PlanFlash, Image: img.URL, TargetDiskSerial: m.TargetDiskSerial, SHA256: img.SHA256, Format: img.Format}
		}
	case ModeInventory:
		// The plan stays "inventory" while the live environment runs, also
		// after its report arrived; the PXE boot after the report is local.
		d.Plan = Plan{Mode: PlanInventory}
		if m.Inventoried {
			d.Next.Inventoried = false
		} else {
			d.Action = BootInventory
		}
	case ModeTUI:
		d.Action = BootInteractive
		d.Plan = Plan{Mode: PlanInteractive, Catalog: catalogURL}
	}
	return d
}

// DecideBoot is Decide for a PXE boot, with the rule that a live boot needs
// a live system for the machine's architecture: live says why there is
// none (nil: there is one). Without one the machine is told why and boots
// its disk, its state unchanged: no kernel it cannot run.
func (m Machine) DecideBoot(lookup func(ref string) (Image, bool), live func(arch string) error) Decision {
	d := m.Decide(lookup, "")
	switch d.Action {
	case BootFlasher, BootInventory, BootInteractive:
		if err := live(m.LiveArch()); err != nil {
			return Decision{Action: BootRefused, Reason: err.Error(), Next: m, Plan: Plan{Mode: PlanExit}}
		}
	}
	return d
}

// Arm records that m booted the flasher (the first report of its live
// boot): a new flash begins.
func (m Machine) Arm() Machine {
	if m.IsFlashMode() {
		m.Armed = true
	}
	return m
}

// Status is a flasher's report: "progress" while it works, then "done" or
// "failed" once.
type Status struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// For "progress": the stage and its bytes (see Flash).
	Stage    string  `json:"stage,omitempty"`
	Done     int64   `json:"bytes_done,omitempty"`
	Total    int64   `json:"bytes_total,omitempty"`
	Fraction float64 `json:"fraction,omitempty"`
	Elapsed  float64 `json:"elapsed_seconds,omitempty"`
	// For "done": the sha256 the flasher verified ("" if none was known),
	// and whether it wrote the cloud-init seed (bty-web then waits for the
	// installed system to phone home).
	SHA256 string `json:"sha256,omitempty"`
	Seed   bool   `json:"seed,omitempty"`
}

// Status values.
const (
	StatusProgress = "progress"
	StatusDone     = "done"
	StatusFailed   = "failed"
)

var stageWord = regexp.MustCompile(`^[a-z]{1,16}$`)

// Validate checks a report; the route that takes it is open, so every
// field is bounded.
func (s Status) Validate() error {
	switch s.Status {
	case StatusDone, StatusFailed:
	case StatusProgress:
		switch {
		case !stageWord.MatchString(s.Stage):
			return fmt.Errorf("stage %q: want a short lower-case word such as write", s.Stage)
		case s.Done < 0 || s.Total < 0 || (s.Total > 0 && s.Done > s.Total):
			return fmt.Errorf("bytes_done %d, bytes_total %d: want 0 <= done <= total (total 0: unknown)", s.Done, s.Total)
		case s.Fraction < 0 || s.Fraction > 1 || s.Elapsed < 0:
			return fmt.Errorf("fraction %g, elapsed_seconds %g: want a fraction from 0 to 1 and a positive time", s.Fraction, s.Elapsed)
		}
	default:
		return fmt.Errorf(`status %q: want "progress", "done" or "failed"`, s.Status)
	}
	if s.SHA256 != "" && !catalog.IsSHA256(s.SHA256) {
		return fmt.Errorf("sha256 %q: want 64 lower-case hex digits", s.SHA256)
	}
	if len(s.Reason) > 1024 {
		return fmt.Errorf("reason longer than 1024 bytes")
	}
	return nil
}

// ErrNotFlashing refuses a flasher's report for a machine that is not
// flashing now: not in a flash mode, or its flash already done.
var ErrNotFlashing = errors.New("not flashing now (not in a flash mode, or its flash already reported done)")

// ErrWrongDigest refuses a "done" whose sha256 is not the planned image's.
var ErrWrongDigest = errors.New("the reported sha256 is not the planned image's")

// ErrBackwards refuses a progress report behind the last one of its stage.
var ErrBackwards = errors.New("progress behind the last report of its stage")

// Report applies a flasher's report, which Authenticate proved; want is
// the planned image's sha256 ("" when the image has none). Only a machine
// in a flash mode that is armed and not yet flashed takes reports. A "done" must name the planned image's sha256 when
// it has one; it then marks the disk flashed and verified (without a
// digest to check, only written). A failure changes nothing, so the next
// boot flashes again. Progress moves the flash along, never back within a
// stage. now is when the report arrived.
func (m Machine) Report(s Status, want string, now time.Time) (Machine, error) {
	if !m.IsFlashMode() || !(m.Armed && !m.Flashed) {
		return m, ErrNotFlashing
	}
	switch {
	case s.Status == StatusDone && want != "" && s.SHA256 != want:
		return m, fmt.Errorf("%w: %q, planned %s", ErrWrongDigest, s.SHA256, want)
	case s.Status == StatusProgress && m.Flash.State == FlashRunning && s.Stage == m.Flash.Stage && s.Done < m.Flash.Done:
		return m, fmt.Errorf("%w: %s at %d bytes, was %d", ErrBackwards, s.Stage, s.Done, m.Flash.Done)
	}
	f := Flash{State: FlashRunning, Stage: s.Stage, Done: s.Done, Total: s.Total, Fraction: s.Fraction, Elapsed: s.Elapsed, Reason: s.Reason, UpdatedAt: now}
	switch s.Status {
	case StatusDone:
		f = m.Flash
		f.State, f.SHA256, f.UpdatedAt, f.Fraction = FlashWritten, s.SHA256, now, 1
		if f.Total > 0 {
			f.Done = f.Total
		}
		if want != "" {
			f.State = FlashVerified // the planned digest, checked above
		}
		m.Armed, m.Flashed = true, true
		m = m.End()
	case StatusFailed:
		f = m.Flash
		f.State, f.Reason, f.UpdatedAt = FlashFailed, s.Reason, now
		m = m.End()
	}
	m.Flash = f
	return m, nil
}

// Settings are the fields an operator sets (PUT /machines/{mac}).
type Settings struct {
	ImageRef         string            `json:"bty_image_ref"`
	BootMode         Mode              `json:"boot_mode"`
	TargetDiskSerial string            `json:"target_disk_serial"`
	Labels           map[string]string `json:"labels"`
	// CloudInit (default true) writes the cloud-init seed with a flash;
	// NetworkConfig is the machine's network-config (version 2).
	CloudInit     *bool  `json:"cloud_init,omitempty"`
	NetworkConfig string `json:"network_config,omitempty"`
}

// Save applies an operator's full replacement of m's settings. Changing the
// mode, image or target disarms; saving a bty-flash-once machine at all
// re-arms its single flash.
func (m Machine) Save(s Settings) Machine {
	changed := m.BootMode != s.BootMode || m.ImageRef != s.ImageRef || m.TargetDiskSerial != s.TargetDiskSerial
	if changed || s.BootMode == ModeFlashOnce {
		// A new plan: the live boot under way (if any) ends with the old
		// one, so the machine's next PXE boot gets a new live boot.
		m.Armed, m.Flashed, m.Flash, m.Session, m.Deployment = false, false, Flash{}, Session{}, Deployment{}
	}
	m.CloudInit = s.CloudInit == nil || *s.CloudInit
	m.NetworkConfig = s.NetworkConfig
	if m.BootMode != s.BootMode {
		m.Inventoried = false
	}
	m.ImageRef, m.BootMode, m.TargetDiskSerial = s.ImageRef, s.BootMode, s.TargetDiskSerial
	m.Labels = s.Labels
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	return m
}

// Inventory is what the live environment reports of a machine's disks
// (POST /pxe/{mac}/inventory); bty-web keeps exactly these fields.
type Inventory struct {
	Disks []InventoryDisk `json:"disks"`
}

// InventoryDisk is one disk of an Inventory.
type InventoryDisk struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Model     string `json:"model"`
	Serial    string `json:"serial"`
	Removable bool   `json:"removable"`
	ReadOnly  bool   `json:"read_only"`
}
