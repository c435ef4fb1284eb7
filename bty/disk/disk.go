// Package disk discovers block devices from sysfs and tells whether one is
// safe to overwrite: its size, serial, model, whether it is removable or
// read-only, and which of its partitions are mounted, used as swap or held
// by another device (LVM, dm-crypt, md).
//
// Every path is relative to a System, so tests describe a machine as a
// directory tree and the code under test is the code that runs for real.
package disk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound marks a requested disk that does not exist.
var ErrNotFound = errors.New("no such disk")

// System is where a machine's kernel interfaces are found.
type System struct {
	Sys       string // sysfs, normally /sys
	Dev       string // device nodes, normally /dev
	MountInfo string // normally /proc/self/mountinfo
	Swaps     string // normally /proc/swaps
	UdevData  string // udev's database, normally /run/udev/data (optional)
}

// Host is the running machine.
var Host = System{Sys: "/sys", Dev: "/dev", MountInfo: "/proc/self/mountinfo", Swaps: "/proc/swaps", UdevData: "/run/udev/data"}

// Disk describes one whole block device.
type Disk struct {
	Name      string // kernel name, e.g. "sda", "nvme0n1", "loop3"
	Path      string // device node, e.g. "/dev/sda"
	Size      int64  // bytes
	Serial    string // "" when the device reports none
	Model     string
	Removable bool
	ReadOnly  bool
	// Transport is how the disk is attached: usb, nvme, sata, scsi,
	// virtio, mmc, or "" when sysfs does not say.
	Transport string
	// InUse lists why the disk must not be overwritten: mount points of it
	// or its partitions, active swap, holders such as dm-0.
	InUse []string
}

// List returns the machine's disks, sorted by name. Virtual devices with no
// backing store (ram, zram, empty loop devices) are left out.
func (s System) List() ([]Disk, error) {
	entries, err := os.ReadDir(filepath.Join(s.Sys, "block"))
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w", err)
	}
	var disks []Disk
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		d, err := s.Inspect(name)
		if err != nil {
			return nil, err
		}
		if d.Size == 0 {
			continue
		}
		disks = append(disks, d)
	}
	slices.SortFunc(disks, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	return disks, nil
}

// Resolve inspects the disk at a device path such as /dev/sda; partitions
// are refused, since bty writes whole disks.
func (s System) Resolve(path string) (Disk, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return Disk{}, fmt.Errorf("%w: %s: %v", ErrNotFound, path, err)
	}
	name := filepath.Base(real)
	if _, err := os.Stat(filepath.Join(s.Sys, "class", "block", name, "partition")); err == nil {
		return Disk{}, fmt.Errorf("%s is a partition; bty writes whole disks: give the disk it belongs to", path)
	}
	if _, err := os.Stat(filepath.Join(s.Sys, "block", name)); err != nil {
		return Disk{}, fmt.Errorf("%w: %s is not a block device known to %s/block", ErrNotFound, path, s.Sys)
	}
	return s.Inspect(name)
}

// Inspect describes the disk with the given kernel name.
func (s System) Inspect(name string) (Disk, error) {
	dir := filepath.Join(s.Sys, "block", name)
	sectors, err := readInt(filepath.Join(dir, "size"))
	if err != nil {
		return Disk{}, fmt.Errorf("%w: %s: %v", ErrNotFound, name, err)
	}
	d := Disk{
		Name:      name,
		Path:      filepath.Join(s.Dev, name),
		Size:      sectors * 512, // sysfs counts 512-byte sectors whatever the block size
		Model:     readString(filepath.Join(dir, "device", "model")),
		Removable: readString(filepath.Join(dir, "removable")) == "1",
		ReadOnly:  readString(filepath.Join(dir, "ro")) == "1",
	}
	d.Serial = s.serial(dir)
	d.Transport = transport(dir)

	// The disk and each partition: their device numbers (for mountinfo),
	// names (for /proc/swaps) and holders.
	parts := []string{dir}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), "partition")); err == nil {
				parts = append(parts, filepath.Join(dir, e.Name()))
			}
		}
	}
	devs := map[string]string{}
	names := map[string]bool{}
	for _, p := range parts {
		if dev := readString(filepath.Join(p, "dev")); dev != "" {
			devs[dev] = filepath.Base(p)
		}
		names[filepath.Base(p)] = true
		if holders, err := os.ReadDir(filepath.Join(p, "holders")); err == nil {
			for _, h := range holders {
				d.InUse = append(d.InUse, fmt.Sprintf("%s is held by %s (LVM, dm-crypt or RAID)", filepath.Base(p), h.Name()))
			}
		}
	}
	mounts, err := mounted(s.MountInfo, devs)
	if err != nil {
		return Disk{}, err
	}
	d.InUse = append(d.InUse, mounts...)
	swaps, err := swapping(s.Swaps, names)
	if err != nil {
		return Disk{}, err
	}
	d.InUse = append(d.InUse, swaps...)
	return d, nil
}

// serial reads the first serial number the kernel (or udev) reports.
func (s System) serial(dir string) string {
	for _, p := range []string{
		filepath.Join(dir, "serial"),           // virtio-blk
		filepath.Join(dir, "device", "serial"), // NVMe, some SCSI/USB
	} {
		if v := readString(p); v != "" {
			return v
		}
	}
	// SCSI/SATA: VPD page 0x80 is a 4-byte header and the serial.
	if b, err := os.ReadFile(filepath.Join(dir, "device", "vpd_pg80")); err == nil && len(b) > 4 {
		if v := strings.TrimSpace(strings.Trim(string(b[4:]), "\x00")); v != "" {
			return v
		}
	}
	if s.UdevData != "" {
		if dev := readString(filepath.Join(dir, "dev")); dev != "" {
			if f, err := os.Open(filepath.Join(s.UdevData, "b"+dev)); err == nil {
				defer f.Close()
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					if v, ok := strings.CutPrefix(sc.Text(), "E:ID_SERIAL_SHORT="); ok {
						return strings.TrimSpace(v)
					}
				}
			}
		}
	}
	return ""
}

// mounted lists "<name> is mounted on <dir>" for each mountinfo line whose
// device is one of devs (major:minor → name).
func mounted(mountinfo string, devs map[string]string) ([]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if name, ok := devs[fields[2]]; ok {
			out = append(out, fmt.Sprintf("%s is mounted on %s", name, unescape(fields[4])))
		}
	}
	return out, sc.Err()
}

// swapping lists the disk's partitions that are active swap.
func swapping(swaps string, names map[string]bool) ([]string, error) {
	b, err := os.ReadFile(swaps)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading swaps: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) > 0 && names[filepath.Base(fields[0])] {
			out = append(out, fmt.Sprintf("%s is in use as swap", filepath.Base(fields[0])))
		}
	}
	return out, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readString(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// BySerial returns the one disk whose serial equals serial exactly. An empty
// serial never matches: a disk without one cannot be chosen by serial.
func BySerial(disks []Disk, serial string) (Disk, error) {
	if serial == "" {
		return Disk{}, fmt.Errorf("%w: empty serial requested; name the disk by its exact serial", ErrNotFound)
	}
	var found []Disk
	for _, d := range disks {
		if d.Serial != "" && d.Serial == serial {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		var seen []string
		for _, d := range disks {
			seen = append(seen, fmt.Sprintf("%s=%q", d.Name, d.Serial))
		}
		return Disk{}, fmt.Errorf("%w: no disk has serial %q (disks: %s)", ErrNotFound, serial, strings.Join(seen, ", "))
	default:
		return Disk{}, fmt.Errorf("serial %q is reported by %d disks (%s and %s); refusing to guess", serial, len(found), found[0].Name, found[1].Name)
	}
}

// Check returns why d must not be overwritten with an image of size bytes
// (size < 0: unknown yet), or nil.
func (d Disk) Check(size int64) error {
	switch {
	case d.ReadOnly:
		return fmt.Errorf("%s is read-only; check its write-protect switch", d.Path)
	case len(d.InUse) > 0:
		return fmt.Errorf("%s is in use: %s; unmount or release it first", d.Path, strings.Join(d.InUse, "; "))
	case size > d.Size:
		return fmt.Errorf("%s is too small: the image is %d bytes, the disk %d bytes", d.Path, size, d.Size)
	}
	return nil
}

// transport names the bus a disk hangs off, from the path of its sysfs
// device: the innermost bus on the way there wins (a USB stick's path also
// passes its PCI controller and a SCSI host).
func transport(dir string) string {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	switch {
	case strings.Contains(real, "/usb"):
		return "usb"
	case strings.Contains(real, "/nvme"):
		return "nvme"
	case strings.Contains(real, "/virtio"):
		return "virtio"
	case strings.Contains(real, "/mmc"):
		return "mmc"
	case strings.Contains(real, "/ata"):
		return "sata"
	case strings.Contains(real, "/host"):
		return "scsi"
	}
	return ""
}
