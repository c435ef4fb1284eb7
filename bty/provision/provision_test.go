package provision

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
)

var img = Image{Ref: "r1", Name: "debian.img.zst", URL: "http://h/images/r1/debian.img.zst", Format: catalog.Zstd, SHA256: strings.Repeat("a", 64)}

func lookup(ref string) (Image, bool) { return img, ref == img.Ref }

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// The boot modes' state machine, every mode x armed x flashed x
// inventoried: the PXE boot's action, the state it leaves (armed, flashed,
// inventoried) and the live environment's plan. One row a line:
//
//	mode armed flashed inventoried -> action next-bits plan
var machine = `
ipxe-exit 000 -> local 000 exit
ipxe-exit 001 -> local 001 exit
ipxe-exit 010 -> local 010 exit
ipxe-exit 011 -> local 011 exit
ipxe-exit 100 -> local 100 exit
ipxe-exit 101 -> local 101 exit
ipxe-exit 110 -> local 110 exit
ipxe-exit 111 -> local 111 exit
bty-flash-always 000 -> flash 000 flash
bty-flash-always 001 -> flash 001 flash
bty-flash-always 010 -> flash 010 flash
bty-flash-always 011 -> flash 011 flash
bty-flash-always 100 -> flash 100 flash
bty-flash-always 101 -> flash 101 flash
bty-flash-always 110 -> local 000 exit
bty-flash-always 111 -> local 001 exit
bty-flash-once 000 -> flash 000 flash
bty-flash-once 001 -> flash 001 flash
bty-flash-once 010 -> flash 010 flash
bty-flash-once 011 -> flash 011 flash
bty-flash-once 100 -> flash 100 flash
bty-flash-once 101 -> flash 101 flash
bty-flash-once 110 -> local 110 exit
bty-flash-once 111 -> local 111 exit
bty-inventory 000 -> inventory 000 inventory
bty-inventory 001 -> local 000 inventory
bty-inventory 010 -> inventory 010 inventory
bty-inventory 011 -> local 010 inventory
bty-inventory 100 -> inventory 100 inventory
bty-inventory 101 -> local 100 inventory
bty-inventory 110 -> inventory 110 inventory
bty-inventory 111 -> local 110 inventory
bty-tui 000 -> interactive 000 interactive
bty-tui 001 -> interactive 001 interactive
bty-tui 010 -> interactive 010 interactive
bty-tui 011 -> interactive 011 interactive
bty-tui 100 -> interactive 100 interactive
bty-tui 101 -> interactive 101 interactive
bty-tui 110 -> interactive 110 interactive
bty-tui 111 -> interactive 111 interactive
`

func TestDecideEveryState(t *testing.T) {
	rows := 0
	for _, line := range strings.Split(strings.TrimSpace(machine), "\n") {
		var mode, bits, action, next, plan string
		if _, err := fmt.Sscanf(line, "%s %s -> %s %s %s", &mode, &bits, &action, &next, &plan); err != nil {
			t.Fatalf("bad row %q: %v", line, err)
		}
		m := Machine{MAC: "52:54:00:11:22:33", BootMode: Mode(mode), ImageRef: "r1", TargetDiskSerial: "S1",
			Armed: bits[0] == '1', Flashed: bits[1] == '1', Inventoried: bits[2] == '1'}
		d := m.Decide(lookup, "http://h/catalog.toml")
		got := fmt.Sprintf("%s %s%s%s %s", d.Action, bit(d.Next.Armed), bit(d.Next.Flashed), bit(d.Next.Inventoried), d.Plan.Mode)
		if want := action + " " + next + " " + plan; got != want {
			t.Errorf("%s %s: got %s, want %s", mode, bits, got, want)
		}
		switch d.Plan.Mode {
		case PlanFlash:
			if d.Plan.Image != img.URL || d.Plan.SHA256 != img.SHA256 || d.Plan.Format != img.Format || d.Plan.TargetDiskSerial != "S1" || d.Image != img {
				t.Errorf("%s %s: flash plan %+v", mode, bits, d.Plan)
			}
		case PlanInteractive:
			if d.Plan.Catalog != "http://h/catalog.toml" {
				t.Errorf("%s %s: interactive plan %+v", mode, bits, d.Plan)
			}
		}
		rows++
	}
	if rows != len(Modes)*8 {
		t.Errorf("%d rows, want every mode x armed x flashed x inventoried (%d)", rows, len(Modes)*8)
	}
}

// A flash mode that cannot flash says why, boots the disk and changes
// nothing; its plan says exit.
func TestDecideRefusals(t *testing.T) {
	for _, tc := range []struct{ ref, serial, why string }{
		{"", "S1", "no bty_image_ref"},
		{"r1", "", "no target_disk_serial"},
		{"r2", "S1", "image ref r2 is unknown"},
	} {
		for _, mode := range []Mode{ModeFlashAlways, ModeFlashOnce} {
			m := Machine{MAC: "52:54:00:11:22:33", BootMode: mode, ImageRef: tc.ref, TargetDiskSerial: tc.serial, Armed: true}
			d := m.Decide(lookup, "")
			if d.Action != BootRefused || !strings.Contains(d.Reason, tc.why) || d.Plan.Mode != PlanExit || d.Next.Armed != m.Armed {
				t.Errorf("%s ref %q serial %q: %+v", mode, tc.ref, tc.serial, d)
			}
		}
	}
}

// A flasher's report counts only in a flash mode, while the machine is
// armed and not yet flashed (issue 31: a machine in inventory mode took
// "done").
func TestReport(t *testing.T) {
	done, failed := Status{Status: "done"}, Status{Status: "failed"}
	for _, tc := range []struct {
		mode           Mode
		armed, flashed bool
		st             Status
		want           string // next armed+flashed bits, or "refused"
	}{
		{ModeFlashOnce, true, false, done, "11"},
		{ModeFlashOnce, true, false, failed, "10"},
		{ModeFlashOnce, false, false, done, "refused"},
		{ModeFlashOnce, true, true, done, "refused"},
		{ModeFlashAlways, true, false, done, "11"},
		{ModeFlashAlways, false, false, failed, "refused"},
		{ModeInventory, false, false, done, "refused"},
		{ModeTUI, true, false, done, "refused"},
	} {
		next, err := Machine{BootMode: tc.mode, Armed: tc.armed, Flashed: tc.flashed}.Report(tc.st, "", time.Now())
		got := bit(next.Armed) + bit(next.Flashed)
		if errors.Is(err, ErrNotFlashing) {
			got = "refused"
		}
		if got != tc.want {
			t.Errorf("%s armed %v flashed %v, %s: got %s, want %s", tc.mode, tc.armed, tc.flashed, tc.st.Status, got, tc.want)
		}
	}
}

// A flash as its reports tell it: offering the live boot shows it
// booting, progress reports move it with their rate and ETA, "done" with
// the checked sha256 is verified (without one, only written), a failure
// keeps the last progress and says why, and saving the machine again
// clears it.
func TestFlashReports(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	token, sum0, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	m := Machine{MAC: "52:54:00:11:22:33", BootMode: ModeFlashOnce, ImageRef: "r1", TargetDiskSerial: "S1"}.Issue(sum0, BootFlasher, Boot{}, t0)
	if m.Flash.State != FlashBooting || m.Armed {
		t.Fatalf("offered: armed %v, %+v", m.Armed, m.Flash)
	}
	if m, err = m.Authenticate(token, "192.0.2.10", t0); err != nil || !m.Armed {
		t.Fatalf("first report: armed %v, %v", m.Armed, err)
	}
	m, err = m.Report(Status{Status: StatusProgress, Stage: "write", Done: 256 << 20, Total: 1 << 30, Fraction: 0.25, Elapsed: 8}, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	eta, ok := m.Flash.ETA()
	if m.Flash.State != FlashRunning || m.Flash.Rate() != 32<<20 || !ok || eta != 24*time.Second || m.Flashed {
		t.Errorf("progress: %+v rate %g eta %v %v", m.Flash, m.Flash.Rate(), eta, ok)
	}
	sum := strings.Repeat("b", 64)
	// A report behind the last of its stage is refused (issue 31: progress
	// went backwards); another stage may start lower.
	if _, err := m.Report(Status{Status: StatusProgress, Stage: "write", Done: 1 << 20, Total: 1 << 30}, "", t0); !errors.Is(err, ErrBackwards) {
		t.Errorf("progress going back: %v", err)
	}
	if _, err := m.Report(Status{Status: StatusProgress, Stage: "restart"}, "", t0); err != nil {
		t.Errorf("a restart's report: %v", err)
	}
	// "done" must name the planned image's digest (issue 31: any was taken).
	if _, err := m.Report(Status{Status: StatusDone, SHA256: strings.Repeat("c", 64)}, sum, t0); !errors.Is(err, ErrWrongDigest) {
		t.Errorf("done with another digest: %v", err)
	}
	if _, err := m.Report(Status{Status: StatusDone}, sum, t0); !errors.Is(err, ErrWrongDigest) {
		t.Errorf("done without the planned digest: %v", err)
	}
	done, err := m.Report(Status{Status: StatusDone, SHA256: sum}, sum, t0.Add(30*time.Second))
	if err != nil || done.Flash.State != FlashVerified || done.Flash.SHA256 != sum || done.Flash.Fraction != 1 || done.Flash.Done != 1<<30 || !done.Flashed {
		t.Errorf("done: %+v %v", done.Flash, err)
	}
	if _, err := done.Authenticate(token, "192.0.2.10", t0); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("a report after done: %v, want the live boot ended", err)
	}
	if _, ok := done.Flash.ETA(); ok {
		t.Error("a finished flash has an ETA")
	}
	if w, _ := m.Report(Status{Status: StatusDone}, "", t0); w.Flash.State != FlashWritten {
		t.Errorf("done without a digest: %v", w.Flash.State)
	}
	failed, _ := m.Report(Status{Status: StatusFailed, Reason: "disk gone"}, sum, t0)
	if failed.Flash.State != FlashFailed || failed.Flash.Reason != "disk gone" || failed.Flash.Done != 256<<20 || failed.Flashed {
		t.Errorf("failed: %+v", failed.Flash)
	}
	if _, err := done.Report(Status{Status: StatusProgress, Stage: "write"}, sum, t0); !errors.Is(err, ErrNotFlashing) {
		t.Errorf("progress after done: %v", err)
	}
	if saved := done.Save(Settings{BootMode: ModeFlashOnce, ImageRef: "r1", TargetDiskSerial: "S1"}); saved.Flash != (Flash{}) {
		t.Errorf("saving again kept the old flash: %+v", saved.Flash)
	}
}

// The report route is open: every field of a report is bounded.
func TestStatusValidate(t *testing.T) {
	good := []Status{
		{Status: StatusDone}, {Status: StatusFailed, Reason: "x"}, {Status: StatusDone, SHA256: strings.Repeat("a", 64)},
		{Status: StatusProgress, Stage: "write", Done: 5, Total: 10, Fraction: 0.5, Elapsed: 1},
		{Status: StatusProgress, Stage: "write", Done: 5, Fraction: 0.5},
	}
	bad := []Status{
		{Status: "ok"}, {Status: StatusProgress}, {Status: StatusProgress, Stage: "Write!"},
		{Status: StatusProgress, Stage: "write", Done: 11, Total: 10}, {Status: StatusProgress, Stage: "write", Done: -1},
		{Status: StatusProgress, Stage: "write", Fraction: 1.5}, {Status: StatusDone, SHA256: "abc"},
		{Status: StatusFailed, Reason: strings.Repeat("x", 1025)},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v refused: %v", s, err)
		}
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// TestDecideBoot: a live boot needs a live system for the machine's
// architecture; without one the machine is told why and boots its disk,
// its state unchanged but for what it said of itself.
func TestDecideBoot(t *testing.T) {
	b, err := ParseBoot("arm64", "efi")
	if err != nil {
		t.Fatal(err)
	}
	m := New("52:54:00:11:22:33").Booted(b)
	if m.Arch != "arm64" || m.Firmware != "efi" || m.LiveArch() != "arm64" {
		t.Fatalf("booted: %+v", m)
	}
	if New(m.MAC).LiveArch() != DefaultArch || m.Booted(Boot{}).Arch != "arm64" {
		t.Error("an unsaid architecture is not the default, or forgets what was said")
	}
	none := func(ref string) (Image, bool) { return Image{}, false }
	var asked string
	missing := func(arch string) error { asked = arch; return errors.New("no live system for " + arch) }
	d := m.DecideBoot(none, missing)
	if d.Action != BootRefused || d.Reason != "no live system for arm64" || asked != "arm64" || d.Plan.Mode != PlanExit || !reflect.DeepEqual(d.Next, m) {
		t.Errorf("inventory without a trio: %+v", d)
	}
	if d := m.DecideBoot(none, func(string) error { return nil }); d.Action != BootInventory {
		t.Errorf("inventory with a trio: %v", d.Action)
	}
	exit := m
	exit.BootMode = ModeExit
	if d := exit.DecideBoot(none, missing); d.Action != BootLocal {
		t.Errorf("a local boot needs no trio: %v", d.Action)
	}
	for _, bad := range [][2]string{{"x86_64 ", ""}, {"${x}", ""}, {"", "uefi"}, {strings.Repeat("a", 17), ""}} {
		if _, err := ParseBoot(bad[0], bad[1]); err == nil {
			t.Errorf("ParseBoot(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// A live boot's token: only its own proves a report, the first report
// makes what the PXE client said the machine's, a second live boot waits
// while one is under way and not quiet, the disk boot that alternates is
// spent only from where the live boot reported, and saving a new plan
// ends the live boot.
func TestSession(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 6, 0, 0, 0, time.UTC)
	idle := 10 * time.Minute
	m := Machine{MAC: "52:54:00:11:22:33", BootMode: ModeFlashAlways, ImageRef: "r1", TargetDiskSerial: "S1", Arch: "x86_64"}
	if err := m.Check("anything"); !errors.Is(err, ErrNoSession) {
		t.Errorf("no live boot: %v", err)
	}
	token, sum, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := NewToken()
	if len(token) != 64 || token == other || sum == token {
		t.Fatalf("tokens %q %q, sum %q", token, other, sum)
	}
	m = m.Issue(sum, BootFlasher, Boot{Arch: "arm64", Firmware: "efi"}, t0)
	if m.Arch != "x86_64" {
		t.Errorf("the offer changed the arch to %q before any report", m.Arch)
	}
	if !m.Session.Outstanding(t0.Add(idle-time.Second), idle) || m.Session.Outstanding(t0.Add(idle), idle) {
		t.Errorf("outstanding: %+v", m.Session)
	}
	if _, err := m.Authenticate(other, "192.0.2.66", t0); !errors.Is(err, ErrBadToken) {
		t.Errorf("another token: %v", err)
	}
	if _, err := m.Authenticate("", "192.0.2.66", t0); !errors.Is(err, ErrBadToken) {
		t.Errorf("no token: %v", err)
	}
	seen := t0.Add(idle - time.Second)
	m, err = m.Authenticate(token, "192.0.2.10", seen)
	if err != nil || m.Arch != "arm64" || m.Firmware != "efi" || !m.Armed || m.Session.Remote != "192.0.2.10" {
		t.Fatalf("first report: %v arch %q firmware %q armed %v %+v", err, m.Arch, m.Firmware, m.Armed, m.Session)
	}
	if !m.Session.Outstanding(seen.Add(idle-time.Second), idle) {
		t.Error("a report did not keep the live boot")
	}
	m, err = m.Report(Status{Status: StatusDone}, "", seen)
	if err != nil || m.Session.Outstanding(seen, idle) {
		t.Fatalf("done: %v %+v", err, m.Session)
	}
	if !m.Spends("192.0.2.10") || m.Spends("192.0.2.66") {
		t.Errorf("spends: from the live boot's address %v, from another %v", m.Spends("192.0.2.10"), m.Spends("192.0.2.66"))
	}
	if (Machine{Flashed: true, Armed: true}).Spends("192.0.2.66") != true {
		t.Error("a machine without a live boot on record does not spend")
	}
	saved := m.Save(Settings{BootMode: ModeFlashOnce, ImageRef: "r1", TargetDiskSerial: "S1"})
	if saved.Session != (Session{}) {
		t.Errorf("saving a new plan kept the live boot: %+v", saved.Session)
	}
	labels := m.Save(Settings{BootMode: ModeFlashAlways, ImageRef: "r1", TargetDiskSerial: "S1", Labels: map[string]string{"rack": "r1"}})
	if labels.Session != m.Session {
		t.Errorf("saving labels ended the live boot: %+v", labels.Session)
	}
}

// A sealed BMC password opens with its key for its machine only.
func TestSealBMCPassword(t *testing.T) {
	key, other := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	a, err := Seal(key, "52:54:00:11:22:33", "secret")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Seal(key, "52:54:00:11:22:33", "secret")
	if a == b || strings.Contains(a, "secret") {
		t.Errorf("sealed %q and %q: want a new nonce each time, no clear text", a, b)
	}
	if p, err := Open(key, "52:54:00:11:22:33", a); err != nil || p != "secret" {
		t.Errorf("open: %q, %v", p, err)
	}
	for _, c := range []struct {
		key          []byte
		addr, sealed string
	}{
		{other, "52:54:00:11:22:33", a},
		{key, "52:54:00:11:22:34", a},
		{key, "52:54:00:11:22:33", a[:len(a)-4] + "AAAA"},
		{key, "52:54:00:11:22:33", "plain"},
	} {
		if _, err := Open(c.key, c.addr, c.sealed); !errors.Is(err, ErrBMCKey) {
			t.Errorf("open %q for %s: %v; want ErrBMCKey", c.sealed, c.addr, err)
		}
	}
	if _, err := Seal(key[:16], "x", "y"); err == nil {
		t.Error("a 16-byte key sealed")
	}
}
