package flash

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// align is the alignment of direct I/O: 4096 suits disks with 512-byte and
// 4 KiB logical blocks alike.
const align = 4096

// device is a write target: a whole disk opened exclusively, with direct
// I/O when the kernel allows it (block devices do; tmpfs files do not).
type device struct {
	f      *os.File
	direct bool
}

// openDevice opens path for writing. O_EXCL on a block device makes the
// kernel refuse it while anything has it mounted or claimed, closing the
// gap between our checks and the first write.
func openDevice(path string) (*device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_EXCL|unix.O_DIRECT, 0)
	direct := true
	if errors.Is(err, unix.EINVAL) {
		f, err = os.OpenFile(path, os.O_WRONLY|unix.O_EXCL, 0)
		direct = false
	}
	switch {
	case errors.Is(err, unix.EBUSY):
		return nil, &Error{Kind: Refused, Err: fmt.Errorf("%s is busy (mounted or claimed by another program); unmount or release it first", path)}
	case errors.Is(err, os.ErrNotExist):
		return nil, &Error{Kind: NoTarget, Err: fmt.Errorf("target %s does not exist", path)}
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.EROFS):
		return nil, &Error{Kind: Refused, Err: fmt.Errorf("cannot open %s for writing: %v (run as root; check write protection)", path, err)}
	case err != nil:
		return nil, &Error{Kind: Failed, Err: fmt.Errorf("opening %s: %w", path, err)}
	}
	return &device{f: f, direct: direct}, nil
}

// WriteAt writes b at off. Direct I/O needs aligned offsets, lengths and
// memory; the last, short chunk of an image is written through the page
// cache instead (and made durable by the final fsync).
func (d *device) WriteAt(b []byte, off int64) error {
	if d.direct && (len(b)%align != 0 || off%align != 0) {
		if err := d.setDirect(false); err != nil {
			return err
		}
	}
	for len(b) > 0 {
		n, err := d.f.WriteAt(b, off)
		if err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return fmt.Errorf("writing %s at byte %d: the image is larger than the target", d.f.Name(), off)
			}
			return fmt.Errorf("writing %s at byte %d: %w", d.f.Name(), off, err)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

func (d *device) setDirect(on bool) error {
	flags, err := unix.FcntlInt(d.f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("reading flags of %s: %w", d.f.Name(), err)
	}
	if on {
		flags |= unix.O_DIRECT
	} else {
		flags &^= unix.O_DIRECT
	}
	if _, err := unix.FcntlInt(d.f.Fd(), unix.F_SETFL, flags); err != nil {
		return fmt.Errorf("setting flags of %s: %w", d.f.Name(), err)
	}
	d.direct = on
	return nil
}

// Sync makes everything written durable: success is reported only after it.
func (d *device) Sync() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("flushing %s: %w", d.f.Name(), err)
	}
	return nil
}

func (d *device) Close() error { return d.f.Close() }

// buffer returns size bytes of memory aligned for direct I/O. It lives on
// the Go heap (which never moves objects), so a reader still filling it after
// an early return keeps it alive instead of writing into freed memory.
func buffer(size int) []byte {
	b := make([]byte, size+align)
	skip := int(-uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	return b[skip : skip+size : skip+size]
}
