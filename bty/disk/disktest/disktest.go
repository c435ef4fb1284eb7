// Package disktest describes machines for tests: a sysfs tree with one
// virtio disk whose device node is a plain file, so the code under test
// inspects and writes a "disk" without root.
package disktest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bty-lab/bty/bty/disk"
)

// OneDisk returns a System with one disk, vdb, of size bytes (a multiple of
// 512) reporting serial, and the path of its device file, filled with fill.
func OneDisk(t testing.TB, serial string, size int, fill byte) (disk.System, string) {
	t.Helper()
	root := t.TempDir()
	for p, c := range map[string][]byte{
		"sys/block/vdb/size":   []byte(strconv.Itoa(size/512) + "\n"),
		"sys/block/vdb/serial": []byte(serial + "\n"),
		"sys/block/vdb/dev":    []byte("254:16\n"),
		"proc/mountinfo":       nil,
		"dev/vdb":              bytes.Repeat([]byte{fill}, size),
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys := disk.System{Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev"), MountInfo: filepath.Join(root, "proc/mountinfo")}
	return sys, filepath.Join(root, "dev/vdb")
}
