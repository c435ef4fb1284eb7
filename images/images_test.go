// Package images_test validates the netboot trios as built, x86_64 and
// arm64: the kernel is an EFI-stub image of its architecture, the initrd
// holds exactly bty-init (of that architecture), the device nodes and the
// listed modules with all their dependencies, the squashfs mounts and holds
// the right bty, and the manifest matches.
package images_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/loopdev"
	"github.com/bty-lab/bty/bty/pxescript"
	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/cpio"
	"github.com/bty-lab/bty/tools/efi"
	"github.com/bty-lab/bty/tools/kmod"
)

func artifact(t *testing.T, env string) string {
	t.Helper()
	return testenv.Runfile(t, env, "//images:images_test")
}

func version(t *testing.T) string {
	b, err := os.ReadFile(artifact(t, "BTY_VERSION_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// trio is one netboot trio: its architecture as bty-web names it, the
// machine its binaries are for, and the suffix of its files' environment
// variables.
type trio struct {
	arch    string
	efi     uint16
	elf     elf.Machine
	envName string
}

var trios = []trio{
	{"x86_64", efi.AMD64, elf.EM_X86_64, ""},
	{"arm64", efi.ARM64, elf.EM_AARCH64, "_ARM64"},
}

// file is the path of one of the trio's files: env is BTY_VMLINUZ,
// BTY_INITRD, BTY_SQUASHFS or BTY_MANIFEST.
func (tr trio) file(t *testing.T, env string) string { return artifact(t, env+tr.envName) }

func eachTrio(t *testing.T, f func(*testing.T, trio)) {
	for _, tr := range trios {
		t.Run(tr.arch, func(t *testing.T) { f(t, tr) })
	}
}

// The trios Bazel builds have the names bty-web serves them under
// (pxescript.NetbootFor): the Starlark and the Go names cannot drift.
func TestNames(t *testing.T) {
	eachTrio(t, func(t *testing.T, tr trio) {
		nb, err := pxescript.NetbootFor(version(t), tr.arch)
		if err != nil {
			t.Fatal(err)
		}
		for env, want := range map[string]string{"BTY_VMLINUZ": nb.Kernel, "BTY_INITRD": nb.Initrd, "BTY_SQUASHFS": nb.Squashfs, "BTY_MANIFEST": nb.Manifest} {
			if got := filepath.Base(tr.file(t, env)); got != want {
				t.Errorf("%s is named %s, want %s (pxescript.NetbootFor)", env+tr.envName, got, want)
			}
		}
	})
	if got, want := filepath.Base(artifact(t, "BTY_USB_ISO")), "bty-usbboot-pc-x86_64-v"+version(t)+".iso"; got != want {
		t.Errorf("the USB ISO is named %s, want %s", got, want)
	}
}

// TestUSBISOSize: the medium stays within its budget of 64 MiB, its
// 32 MiB of empty BTY_IMAGES included, with the signed UEFI chain and the
// BIOS loader on it.
func TestUSBISOSize(t *testing.T) {
	fi, err := os.Stat(artifact(t, "BTY_USB_ISO"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the USB ISO is %d bytes (%.1f MiB)", fi.Size(), float64(fi.Size())/(1<<20))
	if fi.Size() > 64<<20 {
		t.Errorf("the USB ISO is %d bytes, over its budget of 64 MiB", fi.Size())
	}
}

func TestEFIBinaries(t *testing.T) {
	eachTrio(t, func(t *testing.T, tr trio) {
		if err := efi.Check(unpacked(t, tr.file(t, "BTY_VMLINUZ")), tr.efi); err != nil {
			t.Error(err)
		}
	})
	for _, env := range []string{"BTY_SHIM", "BTY_SYSTEMD_BOOT"} {
		if err := efi.Check(artifact(t, env), efi.AMD64); err != nil {
			t.Error(err)
		}
	}
}

// TestSignedChain: everything that runs before the kernel on a Secure Boot
// machine, and the x86_64 kernel, carries a signature (the firmware and
// shim check whose; //e2e/usb boots them with Secure Boot on). An
// unsigned build slipped into a pin fails here, not on an operator's
// machine.
func TestSignedChain(t *testing.T) {
	for _, env := range []string{"BTY_SHIM", "BTY_SYSTEMD_BOOT", "BTY_VMLINUZ"} {
		size, err := efi.SignatureSize(artifact(t, env))
		if err != nil {
			t.Fatal(err)
		}
		if size == 0 {
			t.Errorf("%s (%s) is not signed", env, filepath.Base(artifact(t, env)))
		}
	}
}

// unpacked returns the kernel as the firmware gets it: the arm64 kernel
// ships gzip-compressed (iPXE unpacks it), the x86_64 one as it is.
func unpacked(t *testing.T, kernel string) string {
	f, err := os.Open(kernel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return kernel
	}
	out := filepath.Join(t.TempDir(), filepath.Base(kernel))
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, zr); err != nil {
		t.Fatalf("unpacking %s: %v", kernel, err)
	}
	return out
}

// isFor says why b is not an executable for machine m, or nil.
func isFor(b []byte, m elf.Machine) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if f.Machine != m {
		return fmt.Errorf("an executable for %v, not %v", f.Machine, m)
	}
	return nil
}

func TestInitrd(t *testing.T) { eachTrio(t, testInitrd) }

func testInitrd(t *testing.T, tr trio) {
	f, err := os.Open(tr.file(t, "BTY_INITRD"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := cpio.Read(zr)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		files[e.Path] = e.Data
	}
	order := strings.Fields(string(files["etc/bty/modules"]))
	if len(order) < 10 {
		t.Fatalf("only %d modules listed", len(order))
	}
	want := map[string]bool{"init": true, "dev/console": true, "dev/null": true, "etc/bty/modules": true}
	builtin := map[string]bool{}
	b, err := os.ReadFile(tr.file(t, "BTY_MODULES_BUILTIN"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Fields(string(b)) {
		builtin[kmod.Canonical(strings.TrimSuffix(path.Base(l), ".ko"))] = true
	}
	loaded := map[string]bool{}
	for _, p := range order {
		rel := strings.TrimPrefix(p, "/")
		want[rel] = true
		ko, ok := files[rel]
		if !ok {
			t.Errorf("%s is listed but not in the initrd", p)
			continue
		}
		deps, err := kmod.Depends(ko)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		// Under Secure Boot the kernel is locked down and loads signed
		// modules only: each must be Debian's, as shipped.
		if _, err := kmod.SignatureSize(ko); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		for _, d := range deps {
			if !loaded[d] && !builtin[d] {
				t.Errorf("%s needs %s, which is not loaded before it", p, d)
			}
		}
		loaded[kmod.Canonical(strings.TrimSuffix(path.Base(p), ".ko"))] = true
	}
	for _, m := range []string{"virtio_net", "virtio_blk", "squashfs", "loop", "e1000e", "ahci", "nvme", "vfat", "exfat"} {
		if !loaded[m] {
			t.Errorf("module %s missing", m)
		}
	}
	var unexpected []string
	for p, data := range files {
		if data != nil && len(data) > 0 && !want[p] {
			unexpected = append(unexpected, p)
		}
	}
	sort.Strings(unexpected)
	if len(unexpected) > 0 {
		t.Errorf("unexpected files in the initrd: %v", unexpected)
	}
	if err := isFor(files["init"], tr.elf); err != nil {
		t.Errorf("/init: %v", err)
	}
}

// The squashfs holds bty for its architecture; the x86_64 one runs here and
// must be this release's.
func TestSquashfsHoldsTheRightBty(t *testing.T) {
	testenv.Require(t, "loop devices (root)", loopdev.Available())
	eachTrio(t, testSquashfs)
}

func testSquashfs(t *testing.T, tr trio) {
	dev, err := loopdev.Attach(tr.file(t, "BTY_SQUASHFS"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Detach()
	mnt := t.TempDir()
	if err := unix.Mount(dev.Path, mnt, "squashfs", unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mounting the squashfs: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	bin, err := os.ReadFile(filepath.Join(mnt, "bin/bty"))
	if err != nil {
		t.Fatal(err)
	}
	if err := isFor(bin, tr.elf); err != nil {
		t.Fatalf("bin/bty: %v", err)
	}
	if tr.elf != elf.EM_X86_64 {
		return
	}
	out, err := exec.Command(filepath.Join(mnt, "bin/bty"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "bty "+version(t); got != want {
		t.Errorf("bin/bty --version = %q, want %q", got, want)
	}
}

func TestManifest(t *testing.T) { eachTrio(t, testManifest) }

func testManifest(t *testing.T, tr trio) {
	b, err := os.ReadFile(tr.file(t, "BTY_MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("manifest has %d lines:\n%s", len(lines), b)
	}
	for _, env := range []string{"BTY_VMLINUZ", "BTY_INITRD", "BTY_SQUASHFS"} {
		data, err := os.ReadFile(tr.file(t, env))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		line := hex.EncodeToString(sum[:]) + "  " + filepath.Base(tr.file(t, env))
		if !strings.Contains(string(b), line) {
			t.Errorf("manifest lacks %q", line)
		}
	}
}
