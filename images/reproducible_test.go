package images_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
)

// build runs a builder tool into a fresh directory and returns the output.
func build(t *testing.T, tool string, args ...string) []byte {
	return buildAt(t, "0", tool, args...)
}

// buildAt is build with the given SOURCE_DATE_EPOCH.
func buildAt(t *testing.T, epoch, tool string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(tool, append([]string{"-out", out}, args...)...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The initrd and the squashfs come out byte for byte the same from a fresh
// run of their tools, in another directory and at another time, as from
// Bazel's build.
func TestReproducible(t *testing.T) {
	ko := artifact(t, "BTY_A_MODULE")
	modDir := ko[:strings.Index(ko, "/kernel/")]
	for _, tc := range []struct {
		name, built string
		tool        string
		args        []string
	}{
		{"initrd", "BTY_INITRD", "BTY_INITRD_TOOL", []string{"-init", artifact(t, "BTY_INIT"), "-modules-dir", modDir, "-builtin", artifact(t, "BTY_MODULES_BUILTIN")}},
		{"squashfs", "BTY_SQUASHFS", "BTY_SQUASHFS_TOOL", []string{"-file", "bin/bty=" + artifact(t, "BTY_BTY")}},
	} {
		args := tc.args
		if tc.name == "initrd" {
			for _, m := range strings.Fields(os.Getenv("BTY_MODULE_NAMES")) {
				args = append(args, "-module", m)
			}
		}
		first := build(t, artifact(t, tc.tool), args...)
		second := build(t, artifact(t, tc.tool), args...)
		bazel, err := os.ReadFile(artifact(t, tc.built))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) || !bytes.Equal(first, bazel) {
			t.Errorf("%s differs between builds (%d, %d, %d bytes)", tc.name, len(first), len(second), len(bazel))
		}
	}
}

// The USB ISO comes out the same from a fresh run of its tool on the
// artifacts Bazel built it from, with the rule's epoch (the default of
// usb_iso's source_date_epoch).
func TestUSBISOReproducible(t *testing.T) {
	args := []string{"-kernel", artifact(t, "BTY_VMLINUZ"), "-initrd", artifact(t, "BTY_INITRD"),
		"-squashfs", artifact(t, "BTY_SQUASHFS"), "-shim", artifact(t, "BTY_SHIM"), "-loader", artifact(t, "BTY_SYSTEMD_BOOT"),
		"-isolinux", artifact(t, "BTY_ISOLINUX"), "-ldlinux", artifact(t, "BTY_LDLINUX"), "-mbr", artifact(t, "BTY_ISOHDPFX"),
		"-version", version(t), "-cmdline", os.Getenv("BTY_USB_CMDLINE")}
	again := buildAt(t, "315532800", artifact(t, "BTY_USB_ISO_TOOL"), args...)
	bazel, err := os.ReadFile(artifact(t, "BTY_USB_ISO"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, bazel) {
		t.Errorf("the USB ISO differs between builds at byte %d (%d, %d bytes)", testenv.FirstDiff(again, bazel), len(again), len(bazel))
	}
	t.Logf("%s: %.1f MiB, of which BTY_IMAGES 32 MiB", filepath.Base(artifact(t, "BTY_USB_ISO")), float64(len(bazel))/(1<<20))
}
