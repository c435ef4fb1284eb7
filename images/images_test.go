// Package images_test validates the netboot trio as built: the kernel is an
// EFI-stub x86_64 image, the initrd holds exactly bty-init, the device nodes
// and the listed modules with all their dependencies, the squashfs mounts and
// runs the right bty, and the manifest matches.
package images_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
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

// The trio Bazel builds has the names bty-web serves it under
// (pxescript.NetbootFor): the Starlark and the Go names cannot drift.
func TestNames(t *testing.T) {
	nb, err := pxescript.NetbootFor(version(t), "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]string{"BTY_VMLINUZ": nb.Kernel, "BTY_INITRD": nb.Initrd, "BTY_SQUASHFS": nb.Squashfs, "BTY_MANIFEST": nb.Manifest} {
		if got := filepath.Base(artifact(t, env)); got != want {
			t.Errorf("%s is named %s, want %s (pxescript.NetbootFor)", env, got, want)
		}
	}
	if got, want := filepath.Base(artifact(t, "BTY_USB_ISO")), "bty-usbboot-pc-x86_64-v"+version(t)+".iso"; got != want {
		t.Errorf("the USB ISO is named %s, want %s", got, want)
	}
}

func TestEFIBinaries(t *testing.T) {
	for _, env := range []string{"BTY_VMLINUZ", "BTY_SYSTEMD_BOOT"} {
		if err := efi.Check(artifact(t, env), efi.AMD64); err != nil {
			t.Error(err)
		}
	}
}

func TestInitrd(t *testing.T) {
	f, err := os.Open(artifact(t, "BTY_INITRD"))
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
	b, err := os.ReadFile(artifact(t, "BTY_MODULES_BUILTIN"))
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
	if !bytes.HasPrefix(files["init"], []byte("\x7fELF")) {
		t.Error("/init is not an ELF executable")
	}
}

func TestSquashfsRunsTheRightBty(t *testing.T) {
	testenv.Require(t, "loop devices (root)", loopdev.Available())
	dev, err := loopdev.Attach(artifact(t, "BTY_SQUASHFS"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Detach()
	mnt := t.TempDir()
	if err := unix.Mount(dev.Path, mnt, "squashfs", unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mounting the squashfs: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	out, err := exec.Command(filepath.Join(mnt, "bin/bty"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "bty "+version(t); got != want {
		t.Errorf("bin/bty --version = %q, want %q", got, want)
	}
}

func TestManifest(t *testing.T) {
	b, err := os.ReadFile(artifact(t, "BTY_MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 {
		t.Fatalf("manifest has %d lines:\n%s", len(lines), b)
	}
	for _, env := range []string{"BTY_VMLINUZ", "BTY_INITRD", "BTY_SQUASHFS"} {
		data, err := os.ReadFile(artifact(t, env))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		line := hex.EncodeToString(sum[:]) + "  " + filepath.Base(artifact(t, env))
		if !strings.Contains(string(b), line) {
			t.Errorf("manifest lacks %q", line)
		}
	}
}
