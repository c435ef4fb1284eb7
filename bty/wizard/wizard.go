// Package wizard is the console wizard an operator flashes a machine with
// from the USB stick: pick an image, pick a disk, confirm by typing the
// disk's serial, watch the flash, read the result. It is a bubbletea model,
// drawn in plain ASCII so it reads the same on the Linux VT and on a
// serial console (vt100, 80x24), and every choice can be made with arrows,
// j/k, or the line's number.
//
// Nothing is written before the confirmation, and the write is flash.Run,
// the same code as `bty flash`, with the same console markers.
package wizard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/disk"
	"github.com/bty-lab/bty/bty/flash"
	"github.com/bty-lab/bty/bty/imageroot"
	"github.com/bty-lab/bty/bty/progress"
)

// Env is what the wizard works with.
type Env struct {
	Version   string
	ImageRoot string
	// Disks lists the machine's disks (disk.Host.List).
	Disks func() ([]disk.Disk, error)
	// BootDisk is the kernel name of the disk the live system runs from;
	// it is listed but cannot be chosen.
	BootDisk string
	// Flash writes; flash.Run in bty.
	Flash func(ctx context.Context, job flash.Job) (flash.Result, error)
	// Markers receive the "bty:" console markers (serial console, kernel
	// log).
	Markers []io.Writer
	// Lock is taken before writing, so two consoles never flash at once;
	// nil means no lock.
	Lock func() (release func(), err error)
}

// Action is what the wizard's caller does after it quits.
type Action int

// Actions after the wizard.
const (
	Quit Action = iota
	Reboot
)

// Image is one image the operator can pick.
type Image struct {
	Name    string
	Source  string // a path, or the catalog entry's URL
	Format  catalog.Format
	Size    int64 // as fetched; -1 unknown
	Decoded int64 // at least this many bytes are written; -1 unknown
	SHA256  string
	Remote  bool // a catalog entry: fetched over the network
	Problem string
}

// target is a disk as listed: Why says why it cannot be chosen ("" if it
// can).
type target struct {
	disk.Disk
	Why string
}

type step int

const (
	stepImages step = iota
	stepDisks
	stepConfirm
	stepFlashing
	stepResult
)

// Model is the wizard's state; it implements tea.Model.
type Model struct {
	env      Env
	step     step
	images   []Image
	problem  string // why the image root could not be read fully
	disks    []target
	cursor   int
	image    Image
	target   target
	typed    string
	note     string
	download progress.Update
	write    progress.Update
	updates  chan progress.Update
	result   outcome
	action   Action
}

type outcome struct {
	res flash.Result
	err error
}

type progressMsg progress.Update
type doneMsg outcome

// New reads the image root and returns the wizard at its first screen.
func New(env Env) *Model {
	m := &Model{env: env}
	m.loadImages()
	return m
}

// Action says what the caller should do after the program ends.
func (m *Model) Action() Action { return m.action }

func (m *Model) loadImages() {
	m.images, m.problem = nil, ""
	root, err := imageroot.Read(m.env.ImageRoot)
	if err != nil {
		m.problem = err.Error()
	}
	if root == nil {
		return
	}
	for _, f := range root.Files {
		img := Image{Name: f.Name, Source: f.Path, Format: f.Format, Size: f.Size, Decoded: f.DecodedSize(), SHA256: f.SHA256}
		if f.SidecarErr != nil {
			img.Problem = f.SidecarErr.Error()
		}
		m.images = append(m.images, img)
	}
	if root.Catalog != nil {
		for _, e := range root.Catalog.Images {
			size := e.SizeBytes
			if size == 0 {
				size = -1
			}
			m.images = append(m.images, Image{Name: e.Name, Source: e.Src, Format: e.Format, Size: size, Decoded: -1, SHA256: e.SHA256, Remote: true})
		}
	}
}

func (m *Model) loadDisks() {
	m.disks, m.note = nil, ""
	disks, err := m.env.Disks()
	if err != nil {
		m.note = "listing disks: " + err.Error()
		return
	}
	for _, d := range disks {
		// Loop devices are the live system's own (its squashfs, its
		// medium) and CD drives are never targets: neither is listed,
		// unless it is what the system booted from.
		if (strings.HasPrefix(d.Name, "loop") || strings.HasPrefix(d.Name, "sr")) && d.Name != m.env.BootDisk {
			continue
		}
		t := target{Disk: d}
		switch {
		case d.Name == m.env.BootDisk:
			t.Why = "the boot stick: the live system runs from it"
		case d.ReadOnly:
			t.Why = "read-only"
		case len(d.InUse) > 0:
			t.Why = "in use: " + strings.Join(d.InUse, "; ")
		case m.image.Decoded > d.Size:
			t.Why = fmt.Sprintf("too small: the image writes at least %s", progress.Bytes(m.image.Decoded))
		case d.Serial == "":
			t.Why = "reports no serial to confirm with"
		}
		m.disks = append(m.disks, t)
	}
	// Choosable disks first, each group in the kernel's order.
	var ok, not []target
	for _, t := range m.disks {
		if t.Why == "" {
			ok = append(ok, t)
		} else {
			not = append(not, t)
		}
	}
	m.disks = append(ok, not...)
}

// Init starts nothing: the first screen is ready.
func (m *Model) Init() tea.Cmd { return nil }

// Update handles a key or a message from the flash.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case progressMsg:
		switch msg.Stage {
		case "download":
			m.download = progress.Update(msg)
		case "write":
			m.write = progress.Update(msg)
		}
		return m, m.listen()
	case doneMsg:
		m.result = outcome(msg)
		m.step = stepResult
		return m, nil
	case tea.KeyMsg:
		if m.step == stepConfirm && msg.Type == tea.KeyRunes && len(msg.Runes) > 1 {
			// Typed fast (or pasted), several characters arrive as one key.
			m.typed += printable(string(msg.Runes))
			return m, nil
		}
		return m.key(msg.String())
	}
	return m, nil
}

// count is the number of lines on the current list screen.
func (m *Model) count() int {
	if m.step == stepImages {
		return len(m.images)
	}
	return len(m.disks)
}

func (m *Model) key(k string) (tea.Model, tea.Cmd) {
	if k == "ctrl+c" && m.step != stepFlashing {
		return m, tea.Quit
	}
	switch m.step {
	case stepImages, stepDisks:
		switch k {
		case "up", "k":
			m.cursor = max(m.cursor-1, 0)
		case "down", "j":
			m.cursor = min(m.cursor+1, max(m.count()-1, 0))
		case "1", "2", "3", "4", "5", "6", "7", "8", "9":
			if n := int(k[0] - '1'); n < m.count() {
				m.cursor = n
				return m.choose()
			}
		case "enter":
			return m.choose()
		case "q", "esc":
			if m.step == stepImages {
				return m, tea.Quit
			}
			m.step, m.cursor, m.note = stepImages, 0, ""
			m.loadImages()
		}
	case stepConfirm:
		switch {
		case k == "esc" || k == "q" && m.typed == "":
			m.step, m.cursor, m.typed, m.note = stepDisks, 0, "", ""
			m.loadDisks()
		case k == "backspace":
			if m.typed != "" {
				m.typed = m.typed[:len(m.typed)-1]
			}
		case k == "enter":
			return m.confirm()
		case len(k) == 1:
			m.typed += printable(k)
		}
	case stepFlashing:
		if k == "q" || k == "esc" || k == "ctrl+c" {
			m.note = "a flash cannot be stopped halfway; wait for it to finish"
		}
	case stepResult:
		switch k {
		case "r":
			m.action = Reboot
			return m, tea.Quit
		case "p", "esc":
			m.step, m.cursor, m.note = stepImages, 0, ""
			m.loadImages()
		case "q":
			return m, tea.Quit
		}
	}
	return m, nil
}

func (m *Model) choose() (tea.Model, tea.Cmd) {
	if m.cursor >= m.count() {
		return m, nil
	}
	if m.step == stepImages {
		img := m.images[m.cursor]
		if img.Problem != "" {
			m.note = "cannot use " + img.Name + ": " + img.Problem
			return m, nil
		}
		m.image, m.step, m.cursor = img, stepDisks, 0
		m.loadDisks()
		return m, nil
	}
	t := m.disks[m.cursor]
	if t.Why != "" {
		m.note = "cannot use " + t.Name + ": " + t.Why
		return m, nil
	}
	m.target, m.step, m.typed, m.note = t, stepConfirm, "", ""
	return m, nil
}

// printable keeps the visible ASCII characters of s: serials have no
// others.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f {
			return r
		}
		return -1
	}, s)
}

// matches: the whole serial, or (for long serials) its last 4 characters.
func matches(typed, serial string) bool {
	if typed == "" || serial == "" {
		return false
	}
	return typed == serial || len(serial) > 4 && len(typed) == 4 && strings.HasSuffix(serial, typed)
}

func (m *Model) confirm() (tea.Model, tea.Cmd) {
	if !matches(m.typed, m.target.Serial) {
		m.note = fmt.Sprintf("%q is not %s's serial or its last 4 characters; nothing was written", m.typed, m.target.Name)
		m.typed = ""
		return m, nil
	}
	m.step, m.note = stepFlashing, ""
	m.updates = make(chan progress.Update, 16)
	return m, tea.Batch(m.flash(), m.listen())
}

// listen waits for the next progress update of the running flash.
func (m *Model) listen() tea.Cmd {
	ch := m.updates
	return func() tea.Msg {
		u, ok := <-ch
		if !ok {
			return nil
		}
		return progressMsg(u)
	}
}

// flash runs the write: the same job `bty flash` runs, markers on the
// consoles, progress to the screen.
func (m *Model) flash() tea.Cmd {
	env, img, t, ch := m.env, m.image, m.target, m.updates
	return func() tea.Msg {
		defer close(ch)
		rep := progress.New(io.Discard, false, env.Markers...)
		rep.Watch(func(u progress.Update) {
			select {
			case ch <- u:
			default: // the screen is behind; it catches up with the next one
			}
		})
		if env.Lock != nil {
			release, err := env.Lock()
			if err != nil {
				rep.Marker("bty: flash refused: %v", err)
				return doneMsg{err: &flash.Error{Kind: flash.Refused, Err: err}}
			}
			defer release()
		}
		rep.Marker("bty: wizard flashing %s onto %s (serial %s)", img.Name, t.Path, t.Serial)
		res, err := env.Flash(context.Background(), flash.Job{
			Source: img.Source, SHA256: img.SHA256, Format: img.Format, Target: t.Disk, Progress: rep, Hash: true,
		})
		switch {
		case err != nil:
			rep.Marker("bty: flash failed: %v", err)
		case img.SHA256 != "":
			rep.Marker("bty: flash complete; sha256 %s verified", res.SHA256)
		default:
			rep.Marker("bty: flash complete; not verified (no sha256 known for %s)", img.Name)
		}
		return doneMsg{res: res, err: err}
	}
}

// failedWrite reports whether a failed flash left data on the disk.
func failedWrite(err error) bool {
	var fe *flash.Error
	return errors.As(err, &fe) && fe.Unverified
}
