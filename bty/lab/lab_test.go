package lab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/state"
)

const (
	version = "1.4.0"
	base    = "http://192.0.2.10:8080"
	addr    = mac.Addr("52:54:00:11:22:33")
)

// newLab is a Lab over a fresh SQLite state and state dir, with room for
// maxMachines machines and uploads of at most 64 bytes.
func newLab(t *testing.T, maxMachines int64) *Lab {
	t.Helper()
	dir := t.TempDir()
	store, err := state.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := Config{Version: version, BootDir: filepath.Join(dir, "boot"), ImageDir: filepath.Join(dir, "images"),
		MaxMachines: maxMachines, MaxBootBytes: 64, MaxImageBytes: 64}
	for _, d := range []string{cfg.BootDir, cfg.ImageDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return New(store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func snapshot(t *testing.T, l *Lab) *Snapshot {
	t.Helper()
	s, err := l.Snapshot(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putLive uploads the x86_64 live trio, as an operator does.
func putLive(t *testing.T, l *Lab) {
	nb, _ := pxescript.NetbootFor(version, "x86_64")
	for _, name := range nb.Files() {
		if _, err := l.PutBoot(context.Background(), Upload{Name: name, Body: strings.NewReader("x"), Size: 1}, "admin"); err != nil {
			t.Fatal(err)
		}
	}
}

// Every refusal carries its kind, which is all bty-web needs to answer it.
func TestErrorKinds(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 10)
	for _, c := range []struct {
		name string
		err  error
		want Kind
	}{
		{"no boot mode", second(l.SaveMachine(ctx, addr, provision.Settings{}, "admin")), Invalid},
		{"unknown mode", second(l.SaveMachine(ctx, addr, provision.Settings{BootMode: "bty-flash-sometimes"}, "admin")), Invalid},
		{"bad ref", second(l.SaveMachine(ctx, addr, provision.Settings{BootMode: provision.ModeFlashOnce, ImageRef: "nope"}, "admin")), Invalid},
		{"unknown machine's plan", second(l.Plan(ctx, addr, "", snapshot(t, l))), NotFound},
		{"unknown machine's report", l.Report(ctx, Report{MAC: addr}, provision.Status{Status: provision.StatusDone}), NotFound},
		{"bad report", l.Report(ctx, Report{MAC: addr}, provision.Status{Status: "finished"}), Invalid},
		{"delete unknown", l.DeleteMachine(ctx, addr, "admin"), NotFound},
		{"remove unknown image", l.RemoveImage(ctx, "none.img", "admin"), NotFound},
		{"traversal", second(l.BootFile("../state.db")), Malformed},
		{"upload's name", second(l.PutBoot(ctx, Upload{Name: ".hidden", Body: strings.NewReader("x"), Size: 1}, "admin")), Malformed},
		{"tarball", second(l.PutImage(ctx, Upload{Name: "disk.tar", Body: strings.NewReader("x"), Size: 1}, "admin")), Invalid},
		{"file:// source", second(l.RegisterImage(ctx, api.CatalogEntry{Name: "a", Src: "file:///etc/passwd"}, "admin")), Invalid},
	} {
		if got := KindOf(c.err); c.err == nil || got != c.want {
			t.Errorf("%s: %v (kind %d); want kind %d", c.name, c.err, got, c.want)
		}
	}
	if KindOf(errors.New("plain")) != Internal {
		t.Error("an error of no kind is not Internal")
	}
}

func second[T any](_ T, err error) error { return err }

// An upload that fails keeps nothing and leaves the earlier file of its
// name as it was: too large, cut short, fewer bytes than announced, a
// wrong declared digest.
func TestUploadKeepsNothingOnFailure(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 10)
	if _, err := l.PutImage(ctx, Upload{Name: "a.img", Body: strings.NewReader("first"), Size: 5}, "admin"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		up   Upload
		want Kind
	}{
		{"too large, announced", Upload{Body: bytes.NewReader(make([]byte, 65)), Size: 65}, TooLarge},
		{"too large, unannounced", Upload{Body: bytes.NewReader(make([]byte, 65)), Size: -1}, TooLarge},
		{"cut short", Upload{Body: iotest.TimeoutReader(strings.NewReader("second")), Size: 6}, Malformed},
		{"fewer than announced", Upload{Body: strings.NewReader("sec"), Size: 6}, Malformed},
		{"wrong digest", Upload{Body: strings.NewReader("second"), Size: 6, SHA256: strings.Repeat("0", 64)}, Invalid},
	} {
		c.up.Name = "a.img"
		if _, err := l.PutImage(ctx, c.up, "admin"); KindOf(err) != c.want {
			t.Errorf("%s: %v; want kind %d", c.name, err, c.want)
		}
		got, err := os.ReadFile(filepath.Join(l.cfg.ImageDir, "a.img"))
		if err != nil || string(got) != "first" {
			t.Errorf("%s: the earlier upload is now %q (%v)", c.name, got, err)
		}
		if left, _ := filepath.Glob(filepath.Join(l.cfg.ImageDir, "*.partial")); len(left) > 0 {
			t.Errorf("%s: left %q", c.name, left)
		}
	}
	img, err := l.store.ImageByName(ctx, "a.img")
	if err != nil || img.SizeBytes != 5 {
		t.Errorf("the record of a.img after the failures: %+v, %v", img, err)
	}
	// A remote image's name is not an upload's to take.
	if _, err := l.RegisterImage(ctx, api.CatalogEntry{Name: "b.img", Src: "https://images.example/b.img"}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PutImage(ctx, Upload{Name: "b.img", Body: strings.NewReader("x"), Size: 1}, "admin"); KindOf(err) != Conflict {
		t.Errorf("an upload over a remote image: %v; want a conflict", err)
	}
}

// The snapshot is taken before the transaction: a live trio uploaded
// after it does not change a decision made with it, and one taken after
// the upload boots the live environment.
func TestSnapshotLive(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 10)
	before := snapshot(t, l)
	if err := before.LiveFor("x86_64"); err == nil || !strings.Contains(err.Error(), "upload ") {
		t.Errorf("LiveFor before the trio: %v", err)
	}
	if err := before.LiveFor("riscv64"); err == nil {
		t.Error("a live environment for riscv64, which bty does not build")
	}
	putLive(t, l)
	if err := before.LiveFor("x86_64"); err == nil {
		t.Error("an earlier snapshot changed")
	}
	d := l.Boot(ctx, BootRequest{MAC: addr}, before)
	if d.Action != provision.BootRefused {
		t.Errorf("booting with the earlier snapshot: %v; want refused", d.Action)
	}
	d = l.Boot(ctx, BootRequest{MAC: addr}, snapshot(t, l))
	if d.Action != provision.BootInventory {
		t.Errorf("booting with a snapshot after the upload: %v; want inventory", d.Action)
	}
	script, err := l.Script(pxescript.IPXE, snapshot(t, l), addr, d)
	if err != nil || !bytes.Contains(script, []byte(base+"/boot/bty-netboot-pc-x86_64-v"+version+".vmlinuz ")) || d.Token == "" ||
		!bytes.Contains(script, []byte(" bty.token="+d.Token+"\n")) {
		t.Errorf("script: %s, %v", script, err)
	}
}

// A boot from an unknown MAC past the machine limit is answered but not
// stored; a read-only boot (HEAD) stores nothing either.
func TestBootRecords(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 1)
	snap := snapshot(t, l)
	l.Boot(ctx, BootRequest{MAC: addr, ReadOnly: true}, snap)
	if n, _ := l.store.CountMachines(ctx); n != 0 {
		t.Errorf("a read-only boot stored %d machines", n)
	}
	l.Boot(ctx, BootRequest{MAC: addr, Boot: provision.Boot{Arch: "arm64", Firmware: "efi"}}, snap)
	m, err := l.Machine(ctx, addr)
	if err != nil || m.BootMode != provision.ModeInventory || m.Arch != "arm64" || m.Firmware != "efi" {
		t.Errorf("the booted machine: %+v, %v; want a new machine with what it said", m, err)
	}
	other := mac.Addr("52:54:00:11:22:34")
	if d := l.Boot(ctx, BootRequest{MAC: other}, snap); d.Action != provision.BootRefused {
		t.Errorf("a new machine past the limit: %v; want the decision a new machine gets (refused: no live system)", d.Action)
	}
	if _, err := l.Machine(ctx, other); KindOf(err) != NotFound {
		t.Errorf("a new machine past the limit was stored: %v", err)
	}
	// With its state gone, a machine still gets an answer: its disk.
	l.store.Close()
	if d := l.Boot(ctx, BootRequest{MAC: addr}, snap); d.Action != provision.BootRefused || !strings.Contains(d.Reason, "cannot record this boot") {
		t.Errorf("with the state closed: %+v", d)
	}
}

// A flashing machine's live boot, through its token: reports without the
// token change nothing and are recorded as refused; a second live boot
// is refused while one is under way; a report for a machine not flashing
// is a conflict; the disk boot after the flash is spent only from where
// the live boot reported, after which the next boot flashes again.
func TestLiveBoot(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 10)
	putLive(t, l)
	up, err := l.PutImage(ctx, Upload{Name: "a.img", Body: strings.NewReader("disk"), Size: 4}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.SaveMachine(ctx, addr, provision.Settings{BootMode: provision.ModeFlashAlways, ImageRef: up.Ref, TargetDiskSerial: "S1"}, "admin"); err != nil {
		t.Fatal(err)
	}
	done := provision.Status{Status: provision.StatusDone, SHA256: up.SHA256}
	lastEvent := func() state.EventKind {
		ev, _ := l.store.MachineEvents(ctx, addr, 1)
		if len(ev) != 1 {
			t.Fatalf("events: %+v", ev)
		}
		return ev[0].Kind
	}
	// Before any boot: no token proves anything.
	if err := l.Report(ctx, Report{MAC: addr, Token: "00", Remote: "192.0.2.66"}, done); KindOf(err) != Forbidden || lastEvent() != state.EventReportRefused {
		t.Fatalf("done before any boot: %v, last event %s; want forbidden, %s", err, lastEvent(), state.EventReportRefused)
	}
	snap := snapshot(t, l)
	d := l.Boot(ctx, BootRequest{MAC: addr, Remote: "192.0.2.10"}, snap)
	if d.Action != provision.BootFlasher || d.Token == "" {
		t.Fatalf("first boot: %v, token %q", d.Action, d.Token)
	}
	// A second boot while the first is under way: no second token.
	again := l.Boot(ctx, BootRequest{MAC: addr, Remote: "192.0.2.66"}, snap)
	if again.Action != provision.BootRefused || again.Token != "" || !strings.Contains(again.Reason, "under way") {
		t.Errorf("second boot: %+v", again)
	}
	if _, err := l.Plan(ctx, addr, "00", snap); KindOf(err) != Forbidden {
		t.Errorf("plan with another token: %v", err)
	}
	if p, err := l.Plan(ctx, addr, d.Token, snap); err != nil || p.Mode != provision.PlanFlash || p.SHA256 != up.SHA256 {
		t.Errorf("plan: %+v, %v", p, err)
	}
	rep := Report{MAC: addr, Token: d.Token, Remote: "192.0.2.10"}
	if err := l.Report(ctx, rep, provision.Status{Status: provision.StatusProgress, Stage: "start"}); err != nil || lastEvent() != state.EventFlashArmed {
		t.Fatalf("first report: %v, last event %s", err, lastEvent())
	}
	wrong := done
	wrong.SHA256 = strings.Repeat("0", 64)
	if err := l.Report(ctx, rep, wrong); KindOf(err) != Conflict || lastEvent() != state.EventStatusRefused {
		t.Errorf("done with another digest: %v, last event %s", err, lastEvent())
	}
	if err := l.Report(ctx, rep, done); err != nil {
		t.Fatal(err)
	}
	if m, _ := l.Machine(ctx, addr); m.Flash.State != provision.FlashVerified || !m.Flashed {
		t.Errorf("flash %+v; want verified", m.Flash)
	}
	if err := l.Report(ctx, rep, done); KindOf(err) != Forbidden {
		t.Errorf("a second done: %v; want forbidden (the live boot ended)", err)
	}
	// The disk boot: a stranger's boot does not spend it...
	for range 2 {
		if d := l.Boot(ctx, BootRequest{MAC: addr, Remote: "192.0.2.66"}, snap); d.Action != provision.BootLocal {
			t.Fatalf("a stranger's boot after the flash: %v", d.Action)
		}
	}
	// ...the machine's does, once; then it flashes again.
	for _, want := range []provision.Action{provision.BootLocal, provision.BootFlasher} {
		if d := l.Boot(ctx, BootRequest{MAC: addr, Remote: "192.0.2.10"}, snap); d.Action != want {
			t.Fatalf("the machine's boot: %v; want %v", d.Action, want)
		}
	}
}
