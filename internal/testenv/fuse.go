package testenv

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/loopdev"
)

// MountExFAT mounts the exFAT filesystem in image (a file or a block
// device) at a new directory with exfat-fuse and unmounts it when the test
// ends. Tests read and write bty's exFAT volumes through it rather than the
// kernel's driver: the machines that build bty may run kernels without
// exfat, and an independent implementation is the better witness anyway.
func MountExFAT(t testing.TB, image string, readOnly bool) string {
	t.Helper()
	tool := Tool(t, "mount.exfat-fuse", "exfat-fuse")
	dir := t.TempDir()
	if fi, err := os.Stat(image); err == nil && fi.Mode().IsRegular() {
		// Run as root, exfat-fuse mounts block devices only.
		Require(t, "loop devices", loopdev.Available())
		dev, err := loopdev.Attach(image, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dev.Detach() })
		image = dev.Path
	}
	args := []string{image, dir}
	if readOnly {
		args = append(args, "-o", "ro")
	}
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		Require(t, "mounting exFAT with FUSE (needs root and /dev/fuse)", &cmdError{err, out})
	}
	t.Cleanup(func() { Unmount(t, dir) })
	return dir
}

// Unmount unmounts dir, retrying while a FUSE daemon finishes writing.
func Unmount(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := unix.Unmount(dir, 0)
		if err == nil || err == unix.EINVAL { // EINVAL: not mounted (any more)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("unmounting %s: %v", dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type cmdError struct {
	err error
	out []byte
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + string(e.out) }
