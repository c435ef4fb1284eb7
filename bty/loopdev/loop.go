// Package loopdev attaches files to loop devices: the live environment mounts
// its squashfs through one, and tests write real block devices through them.
package loopdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Device is an attached loop device.
type Device struct {
	Path string // e.g. /dev/loop7
	Name string // e.g. loop7
	file *os.File
}

// Available reports whether this process can create loop devices, and why
// not.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("loop devices need root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return fmt.Errorf("no /dev/loop-control: %w", err)
	}
	return nil
}

// Attach binds backing to a free loop device. With partscan the kernel reads
// its partition table and creates /dev/loopNpM nodes.
func Attach(backing string, partscan bool) (*Device, error) {
	return AttachWith(backing, Options{Partscan: partscan})
}

// Options say how a file is attached.
type Options struct {
	// Partscan makes the kernel read the device's partition table.
	Partscan bool
	// ReadOnly attaches a read-only device (and opens backing read-only,
	// so a file on a read-only filesystem can be attached).
	ReadOnly bool
	// Offset and Size select a byte range of backing (Size 0: to its end).
	Offset, Size int64
}

// AttachWith binds backing to a free loop device as o says.
func AttachWith(backing string, o Options) (*Device, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening loop-control: %w", err)
	}
	defer ctl.Close()
	mode := os.O_RDWR
	if o.ReadOnly {
		mode = os.O_RDONLY
	}
	f, err := os.OpenFile(backing, mode, 0)
	if err != nil {
		return nil, err
	}
	for range 20 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		dev, err := openNode(path)
		if err != nil {
			f.Close()
			return nil, err
		}
		err = unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_SET_FD, int(f.Fd()))
		if errors.Is(err, unix.EBUSY) {
			dev.Close()
			continue
		}
		if err != nil {
			dev.Close()
			f.Close()
			return nil, fmt.Errorf("LOOP_SET_FD %s: %w", path, err)
		}
		info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR, Offset: uint64(o.Offset), Sizelimit: uint64(o.Size)}
		if o.Partscan {
			info.Flags |= unix.LO_FLAGS_PARTSCAN
		}
		if o.ReadOnly {
			info.Flags |= unix.LO_FLAGS_READ_ONLY
		}
		copy(info.File_name[:], backing)
		if err := unix.IoctlLoopSetStatus64(int(dev.Fd()), &info); err != nil {
			unix.IoctlSetInt(int(dev.Fd()), unix.LOOP_CLR_FD, 0)
			dev.Close()
			f.Close()
			return nil, fmt.Errorf("LOOP_SET_STATUS64 %s: %w", path, err)
		}
		f.Close()
		// Keeping dev open holds the device; AUTOCLEAR detaches it when
		// the last user closes it.
		return &Device{Path: path, Name: filepath.Base(path), file: dev}, nil
	}
	f.Close()
	return nil, errors.New("no free loop device after 20 attempts")
}

// openNode opens a loop device node, waiting briefly for devtmpfs to create
// it after LOOP_CTL_GET_FREE added the device.
func openNode(path string) (*os.File, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Partition returns the device node of partition n, waiting for the kernel
// to create it.
func (d *Device) Partition(n int) (string, error) {
	path := fmt.Sprintf("%sp%d", d.Path, n)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("partition %s did not appear", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Resize changes how many bytes of the backing file the device covers (0:
// to its end) and makes the kernel see the new size.
func (d *Device) Resize(size int64) error {
	info, err := unix.IoctlLoopGetStatus64(int(d.file.Fd()))
	if err != nil {
		return fmt.Errorf("LOOP_GET_STATUS64 %s: %w", d.Path, err)
	}
	info.Sizelimit = uint64(size)
	if err := unix.IoctlLoopSetStatus64(int(d.file.Fd()), info); err != nil {
		return fmt.Errorf("LOOP_SET_STATUS64 %s: %w", d.Path, err)
	}
	if err := unix.IoctlSetInt(int(d.file.Fd()), unix.LOOP_SET_CAPACITY, 0); err != nil {
		return fmt.Errorf("LOOP_SET_CAPACITY %s: %w", d.Path, err)
	}
	return nil
}

// Detach releases the device.
func (d *Device) Detach() error {
	err := unix.IoctlSetInt(int(d.file.Fd()), unix.LOOP_CLR_FD, 0)
	if errors.Is(err, unix.ENXIO) || (err != nil && strings.Contains(err.Error(), "no such device")) {
		err = nil
	}
	return errors.Join(err, d.file.Close())
}
