// Package lab is what bty-web does, without HTTP: the operations its
// operators and its machines ask for (a PXE boot's decision and script,
// the live environment's plan and reports, saving and deleting machines,
// uploading, registering and removing images and boot files). Each takes a
// context and returns a typed error (Error, by Kind); bty-web's handlers
// decode a request, call one operation and render its result as JSON or
// as a page. The rules themselves live in package provision; lab applies
// them to the stored state (package state) and the state dir's files.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/cloudinit"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/bty/state"
)

// DefaultDeployTimeout is how long an installed system has to phone home
// after its flash (config deploy.timeout_seconds): a server's firmware,
// its POST and a first boot with cloud-init fit in it.
const DefaultDeployTimeout = 30 * time.Minute

// Config is what the operations need of bty-web's configuration.
type Config struct {
	Version  string // stamped into the live environment's file names
	BootDir  string // boot files (the live trios, iPXE)
	ImageDir string // uploaded images
	// MaxMachines bounds how many machines unknown PXE clients may add.
	MaxMachines int64
	// SessionIdle is how long a live boot holds its machine without a
	// report (provision.Session); 0 means provision.DefaultSessionIdle.
	SessionIdle time.Duration
	// DeployTimeout is how long after a flash's start its installed
	// system has to phone home; 0 means DefaultDeployTimeout.
	DeployTimeout time.Duration
	// BMCKey seals machines' BMC passwords (provision.Seal); nil refuses
	// them.
	BMCKey []byte
	// BMC bounds what is asked of BMCs; Dial opens their sessions (nil:
	// DialBMC, the drivers by protocol).
	BMC  BMCConfig
	Dial Dial
	// MaxBootBytes and MaxImageBytes bound an upload.
	MaxBootBytes, MaxImageBytes int64
}

// Lab is bty-web's state and files, and the operations on them.
type Lab struct {
	cfg     Config
	store   *state.Store
	log     *slog.Logger
	dial    Dial
	bmcPace pacer
}

// New returns the operations over store and cfg's directories.
func New(store *state.Store, cfg Config, log *slog.Logger) *Lab {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = provision.DefaultSessionIdle
	}
	if cfg.DeployTimeout <= 0 {
		cfg.DeployTimeout = DefaultDeployTimeout
	}
	if cfg.BMC.Timeout <= 0 {
		cfg.BMC.Timeout = 5 * time.Second
	}
	if cfg.BMC.SoftOff <= 0 {
		cfg.BMC.SoftOff = time.Minute
	}
	dial := cfg.Dial
	if dial == nil {
		dial = DialBMC
	}
	return &Lab{cfg: cfg, store: store, log: log, dial: dial}
}

// Store is the state the operations keep (for reads the pages show).
func (l *Lab) Store() *state.Store { return l.store }

// Snapshot is what one request reads before it changes anything: every
// image with the URL machines fetch it from, and whether each
// architecture's live environment is in the boot dir. The rules run on it
// inside a machine's write transaction, where nothing else may be looked
// up.
type Snapshot struct {
	Base   string        // the URL machines reach this server at
	Images []state.Image // by name
	byRef  map[string]provision.Image
	live   map[string]error // why each architecture has no live environment; nil: it has one
}

// Snapshot reads the images and the live environments now; base is the
// URL machines reach this server at.
func (l *Lab) Snapshot(ctx context.Context, base string) (*Snapshot, error) {
	imgs, err := l.store.Images(ctx)
	if err != nil {
		return nil, Errorf(Internal, "reading the images: %w", err)
	}
	s := &Snapshot{Base: base, Images: imgs, byRef: make(map[string]provision.Image, len(imgs)), live: map[string]error{}}
	for _, img := range imgs {
		s.byRef[img.Ref] = provision.Image{Ref: img.Ref, Name: img.Name, URL: s.ImageURL(img), Format: img.Format, SHA256: img.SHA256}
	}
	for _, arch := range pxescript.Arches() {
		s.live[arch] = l.liveFiles(arch)
	}
	return s, nil
}

// liveFiles says why the boot dir has no live environment for arch.
func (l *Lab) liveFiles(arch string) error {
	nb, err := pxescript.NetbootFor(l.cfg.Version, arch)
	if err != nil {
		return err
	}
	for _, name := range nb.Files() {
		if _, err := os.Stat(filepath.Join(l.cfg.BootDir, name)); err != nil {
			return fmt.Errorf("no live system for %s machines here: upload %s, %s and %s to /boot", arch, nb.Kernel, nb.Initrd, nb.Squashfs)
		}
	}
	return nil
}

// Lookup finds an image by ref, as the provision rules look it up.
func (s *Snapshot) Lookup(ref string) (provision.Image, bool) {
	img, ok := s.byRef[ref]
	return img, ok
}

// LiveFor says why this server cannot boot a live environment for arch:
// bty builds none for it, or its trio is not in the boot dir.
func (s *Snapshot) LiveFor(arch string) error {
	if err, ok := s.live[arch]; ok {
		return err
	}
	_, err := pxescript.NetbootFor("", arch)
	return err
}

// ImageURL is where machines fetch img: this server for an upload, else
// its source.
func (s *Snapshot) ImageURL(img state.Image) string {
	if img.Uploaded {
		return s.Base + "/images/" + img.Ref + "/" + img.Name
	}
	return img.Src
}

// Catalog is every image as a catalog.toml; uploads appear with their
// HTTP URL, since catalogs take no file:// sources.
func (s *Snapshot) Catalog() ([]byte, error) {
	c := catalog.Catalog{Version: catalog.Version, Images: []catalog.Image{}}
	for _, i := range s.Images {
		c.Images = append(c.Images, catalog.Image{Name: i.Name, Src: s.ImageURL(i), SHA256: i.SHA256, Format: i.Format, SizeBytes: i.SizeBytes, Arch: i.Arch})
	}
	return c.Encode()
}

// Machine returns one machine.
func (l *Lab) Machine(ctx context.Context, addr mac.Addr) (provision.Machine, error) {
	m, err := l.store.Machine(ctx, addr)
	if errors.Is(err, state.ErrNotFound) {
		return m, Errorf(NotFound, "unknown machine %s", addr)
	}
	if err != nil {
		return m, Errorf(Internal, "reading machine %s: %w", addr, err)
	}
	return m, nil
}

// maxSerial bounds a target disk serial (real ones are at most 20 bytes
// for ATA, 256 for NVMe's model-and-serial names).
const maxSerial = 128

// SaveMachine is an operator's full replacement of a machine's settings
// (the rules of provision.Machine.Save), stored with its event; an unknown
// MAC is added.
func (l *Lab) SaveMachine(ctx context.Context, addr mac.Addr, set provision.Settings, actor string) (provision.Machine, error) {
	if set.BootMode == "" {
		return provision.Machine{}, Errorf(Invalid, "boot_mode is required (a save replaces the whole machine)")
	}
	mode, err := provision.ParseMode(string(set.BootMode))
	if err != nil {
		return provision.Machine{}, Errorf(Invalid, "%v", err)
	}
	set.BootMode = mode
	if set.ImageRef != "" && !catalog.IsSHA256(set.ImageRef) {
		return provision.Machine{}, Errorf(Invalid, "bty_image_ref %q: want the 64-hex ref of an image (GET /images)", set.ImageRef)
	}
	if len(set.TargetDiskSerial) > maxSerial {
		return provision.Machine{}, Errorf(Invalid, "target_disk_serial longer than %d characters", maxSerial)
	}
	if set.NetworkConfig != "" {
		if err := cloudinit.CheckNetworkConfig(set.NetworkConfig); err != nil {
			return provision.Machine{}, Errorf(Invalid, "%v", err)
		}
	}
	if h, ok := set.Labels["hostname"]; ok {
		if err := cloudinit.CheckHostname(h); err != nil {
			return provision.Machine{}, Errorf(Invalid, "label %v", err)
		}
	}
	if set.Labels == nil {
		set.Labels = map[string]string{}
	}
	m, err := l.store.Update(ctx, addr, func(m provision.Machine, exists bool) (state.Change, error) {
		if !exists {
			m = provision.New(addr)
		}
		next := m.Save(set)
		return state.Change{Machine: &next, Kind: state.EventMachineSaved, Actor: actor, Detail: set}, nil
	})
	if err != nil {
		return m, Errorf(Internal, "saving machine %s: %w", addr, err)
	}
	return m, nil
}

// DeleteMachine forgets a machine.
func (l *Lab) DeleteMachine(ctx context.Context, addr mac.Addr, actor string) error {
	err := l.store.DeleteMachine(ctx, addr, actor)
	if errors.Is(err, state.ErrNotFound) {
		return Errorf(NotFound, "unknown machine %s", addr)
	}
	if err != nil {
		return Errorf(Internal, "deleting machine %s: %w", addr, err)
	}
	return nil
}
