package wizard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/go-cmp/cmp"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/disk"
	"github.com/bty-lab/bty/bty/disk/disktest"
	"github.com/bty-lab/bty/bty/flash"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/internal/testenv"
)

// lab is a machine with an image root and four disks: BTYTEST (a real
// 4 MiB target, a file standing in for the device node), the boot stick,
// a mounted disk and a tiny one.
type lab struct {
	env     Env
	dev     string // BTYTEST's device node
	raw     []byte // what demo.img.zst decodes to
	markers *bytes.Buffer
}

func newLab(t *testing.T) *lab {
	t.Helper()
	root := t.TempDir()
	raw := imagetest.Disk(1<<20, 3)
	zst := imagetest.Encode(t, catalog.Zstd, raw)
	sum := sha256.Sum256(zst)
	files := map[string]string{
		"demo.img.zst":        string(zst),
		"demo.img.zst.sha256": hex.EncodeToString(sum[:]) + "  demo.img.zst\n",
		"plain.img":           string(raw),
		"broken.img":          "x",
		"broken.img.sha256":   "not a digest\n",
		"catalog.toml":        "version = 1\n[[images]]\nname = \"debian-13\"\nsrc = \"https://images.example.invalid/debian-13.img.xz\"\nsize_bytes = 734003200\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys, dev := disktest.OneDisk(t, "BTYTEST", 4<<20, 0)
	l := &lab{dev: dev, raw: raw, markers: &bytes.Buffer{}}
	l.env = Env{
		Version:   "1.0.0",
		ImageRoot: root,
		BootDisk:  "sda",
		Flash:     flash.Run,
		Markers:   []io.Writer{l.markers},
		Disks: func() ([]disk.Disk, error) {
			disks, err := sys.List()
			if err != nil {
				return nil, err
			}
			disks[0].Transport, disks[0].Model = "virtio", "QEMU disk"
			return append(disks,
				disk.Disk{Name: "sda", Path: "/dev/sda", Size: 4 << 30, Serial: "USB-STICK-01", Model: "QEMU HARDDISK", Transport: "usb"},
				disk.Disk{Name: "sdb", Path: "/dev/sdb", Size: 500 << 30, Serial: "WD-1234", Transport: "sata", InUse: []string{"sdb1 is mounted on /mnt"}},
				disk.Disk{Name: "sdc", Path: "/dev/sdc", Size: 512 << 10, Serial: "TINY", Transport: "usb"},
				disk.Disk{Name: "loop0", Path: "/dev/loop0", Size: 20 << 20, ReadOnly: true}, // the live squashfs: not listed
				disk.Disk{Name: "sr0", Path: "/dev/sr0", Size: 1 << 30, ReadOnly: true},      // a CD drive: not listed
			), nil
		},
	}
	return l
}

// press feeds keys to the model, running what each returns.
func press(t *testing.T, m *Model, keys ...string) {
	t.Helper()
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd := m.Update(msg)
		drive(m, cmd)
	}
}

// drive runs commands as bubbletea would, each in its own goroutine,
// feeding their messages back into the model until none are left.
func drive(m *Model, cmd tea.Cmd) {
	msgs := make(chan tea.Msg)
	pending := 0
	start := func(c tea.Cmd) {
		if c == nil {
			return
		}
		pending++
		go func() { msgs <- c() }()
	}
	start(cmd)
	for pending > 0 {
		msg := <-msgs
		pending--
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			for _, c := range msg {
				start(c)
			}
		case tea.QuitMsg:
		default:
			_, next := m.Update(msg)
			start(next)
		}
	}
}

var took = regexp.MustCompile(`Took [0-9.]+m?s\.`)

// golden compares a screen with testdata/<name>.txt (UPDATE_GOLDEN=1
// rewrites it); paths of the test machine are shown as a live system's.
func (l *lab) golden(t *testing.T, m *Model, name string) {
	t.Helper()
	got := strings.ReplaceAll(m.View(), l.env.ImageRoot, "/var/lib/bty/images")
	got = strings.ReplaceAll(got, l.dev, "/dev/vdb")
	got = took.ReplaceAllString(got, "Took 1.2s.")
	for _, line := range strings.Split(got, "\n") {
		if len(line) > width {
			t.Errorf("%s: line wider than %d columns: %q", name, width, line)
		}
	}
	path := filepath.Join("testdata", name+".txt")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("screen %s (-%s +now):\n%s", name, path, d)
	}
}

func (l *lab) target(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(l.dev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPickConfirmFlash(t *testing.T) {
	l := newLab(t)
	m := New(l.env)
	l.golden(t, m, "1-images")

	press(t, m, "1") // broken.img is first (sorted): refused for its sidecar
	if m.step != stepImages || !strings.Contains(m.note, "broken.img.sha256 does not start with a sha256") {
		t.Fatalf("picking broken.img: step %d, note %q", m.step, m.note)
	}
	press(t, m, "down", "enter") // demo.img.zst
	if m.step != stepDisks || m.image.Name != "demo.img.zst" {
		t.Fatalf("step %d, image %q", m.step, m.image.Name)
	}
	l.golden(t, m, "2-disks")

	// Every disk but BTYTEST is listed and refused, with its reason.
	for key, want := range map[string]string{"2": "the boot stick", "3": "in use: sdb1 is mounted", "4": "too small"} {
		press(t, m, key)
		if m.step != stepDisks || !strings.Contains(m.note, want) {
			t.Errorf("disk %s: step %d, note %q, want %q", key, m.step, m.note, want)
		}
	}
	press(t, m, "up", "up", "up", "enter")
	if m.step != stepConfirm || m.target.Serial != "BTYTEST" {
		t.Fatalf("step %d, target %+v", m.step, m.target)
	}
	press(t, m, "T", "E", "S")
	l.golden(t, m, "3-confirm")

	// A wrong confirmation writes nothing and stays.
	press(t, m, "enter")
	if m.step != stepConfirm || !strings.Contains(m.note, "nothing was written") || m.typed != "" {
		t.Fatalf("wrong serial: step %d, note %q", m.step, m.note)
	}
	if !bytes.Equal(l.target(t), make([]byte, 4<<20)) {
		t.Fatal("a refused confirmation wrote to the disk")
	}
	press(t, m, "T", "EX", "backspace", "ST", "enter") // the last 4 of BTYTEST, partly typed fast
	if m.step != stepResult || m.result.err != nil {
		t.Fatalf("after the flash: step %d, err %v", m.step, m.result.err)
	}
	l.golden(t, m, "5-verified")
	if got := l.target(t); !bytes.Equal(got[:len(l.raw)], l.raw) {
		t.Error("the disk does not hold the image")
	}
	for _, want := range []string{"bty: wizard flashing demo.img.zst onto " + l.dev + " (serial BTYTEST)", "bty: write 100%", "bty: flash complete; sha256 "} {
		if !strings.Contains(l.markers.String(), want) {
			t.Errorf("markers lack %q:\n%s", want, l.markers)
		}
	}
	if m.write.Fraction != 1 || m.write.Done != int64(len(l.raw)) {
		t.Errorf("the screen's write progress ended at %+v", m.write)
	}

	press(t, m, "p")
	if m.step != stepImages {
		t.Errorf("p: step %d", m.step)
	}
	press(t, m, "3", "1", "B", "T", "Y", "T", "E", "S", "T", "enter") // plain.img, whole serial
	if m.step != stepResult || m.result.err != nil || !strings.Contains(m.View(), "UNVERIFIED") {
		t.Fatalf("plain.img: step %d, err %v\n%s", m.step, m.result.err, m.View())
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("r")})
	if m.Action() != Reboot || cmd == nil || cmd() != tea.Quit() {
		t.Errorf("r: action %v", m.Action())
	}
}

func TestScreens(t *testing.T) {
	l := newLab(t)
	m := New(l.env)
	press(t, m, "2", "1")
	m.step = stepFlashing // as the first progress arrives
	m.download.Stage, m.download.Done, m.download.Total, m.download.Fraction = "download", 300<<10, 600<<10, 0.5
	l.golden(t, m, "4-flashing")
	press(t, m, "q")
	if m.step != stepFlashing || !strings.Contains(m.note, "cannot be stopped") {
		t.Errorf("q while flashing: step %d, note %q", m.step, m.note)
	}
	m.note = ""
	m.step, m.result = stepResult, outcome{err: &flash.Error{Kind: flash.Failed, Unverified: true, Err: errors.New("writing /dev/vda at 1048576: input/output error")}}
	l.golden(t, m, "5-failed")
}

func TestBackOut(t *testing.T) {
	l := newLab(t)
	m := New(l.env)
	press(t, m, "2", "esc")
	if m.step != stepImages {
		t.Errorf("Esc on disks: step %d", m.step)
	}
	press(t, m, "2", "1", "q") // q with nothing typed goes back
	if m.step != stepDisks {
		t.Errorf("q on an empty confirmation: step %d", m.step)
	}
	press(t, m, "1", "Q")
	if m.step != stepConfirm || m.typed != "Q" {
		t.Errorf("Q typed: step %d, typed %q", m.step, m.typed)
	}
	press(t, m, "esc", "q")
	if m.step != stepImages {
		t.Errorf("back twice: step %d", m.step)
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd == nil || cmd() != tea.Quit() || m.Action() != Quit {
		t.Error("q on the first screen does not quit")
	}
	if !bytes.Equal(l.target(t), make([]byte, 4<<20)) {
		t.Error("backing out wrote to the disk")
	}
}

func TestLockRefuses(t *testing.T) {
	l := newLab(t)
	l.env.Lock = func() (func(), error) { return nil, errors.New("the other console is flashing") }
	m := New(l.env)
	press(t, m, "2", "1", "T", "E", "S", "T", "enter")
	if m.step != stepResult || m.result.err == nil || !strings.Contains(m.View(), "Nothing was written") {
		t.Fatalf("locked: step %d\n%s", m.step, m.View())
	}
	if !bytes.Equal(l.target(t), make([]byte, 4<<20)) {
		t.Error("wrote without the lock")
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		typed, serial string
		ok            bool
	}{
		{"BTYTEST", "BTYTEST", true},
		{"TEST", "BTYTEST", true},
		{"test", "BTYTEST", false},
		{"EST", "BTYTEST", false},
		{"TINY", "TINY", true},
		{"INY", "TINY", false},
		{"", "", false},
	} {
		if matches(c.typed, c.serial) != c.ok {
			t.Errorf("matches(%q, %q) = %v", c.typed, c.serial, !c.ok)
		}
	}
}

func TestNoImages(t *testing.T) {
	l := newLab(t)
	l.env.ImageRoot = filepath.Join(t.TempDir(), "missing")
	m := New(l.env)
	if v := m.View(); !strings.Contains(v, "(none:") || !strings.Contains(v, "listing images") {
		t.Errorf("missing image root:\n%s", v)
	}
	press(t, m, "enter", "1")
	if m.step != stepImages {
		t.Errorf("step %d", m.step)
	}
}

// TestREADMEShowsAScreen: the screen the README shows is the committed
// snapshot, so the two cannot drift apart.
func TestREADMEShowsAScreen(t *testing.T) {
	readme := testenv.Runfile(t, "BTY_README", "//bty/wizard:wizard_test")
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	shot, err := os.ReadFile(filepath.Join("testdata", "2-disks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "```\n"+string(shot)+"```\n") {
		t.Errorf("README.md does not show testdata/2-disks.txt as it is now; copy the file into its console wizard section")
	}
}
