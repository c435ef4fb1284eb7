// Package usb_test boots the USB live medium (//images:usbboot) in QEMU the
// ways it reaches machines, and checks each on the serial console and on
// the disk afterwards:
//
//   - as a stick written with dd, on a USB mass-storage device behind xHCI,
//     under UEFI: first boot grows BTY_IMAGES to fill the stick and keeps its
//     files; the second boot leaves it alone;
//   - the same stick with Secure Boot on and Microsoft's keys enrolled (as
//     PCs ship): it boots through the signed chain and flashes a disk
//     through the console wizard over the serial line; a stick with one
//     byte changed in shim or in the kernel is refused;
//   - the same stick on a machine that trusts only its owner's keys:
//     refused as shipped, booted with Secure Boot on once shim is signed
//     with the owner's db key;
//   - the same stick and the ISO as a CD on a BIOS machine (SeaBIOS);
//   - as an .iso file on a Ventoy-style exFAT stick, with images in a
//     bty-images folder;
//   - as a CD under UEFI.
package usb_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/exfat"
	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/loopdev"
	"github.com/bty-lab/bty/bty/stick"
	"github.com/bty-lab/bty/e2e/vm"
	"github.com/bty-lab/bty/internal/testenv"
)

// Each boot's own deadline; the test's size (large: 900 s) covers four.
const bootTimeout = 150 * time.Second

var ready = vm.Literal("bty-init: usb ready")

func iso(t *testing.T) string {
	return testenv.Runfile(t, "BTY_USB_ISO", "//e2e/usb:usb_test")
}

// machine is what every boot shares: QEMU, its deadline, and a serial log
// kept with the test's outputs (closed when the test ends).
func machine(t *testing.T, name string, o vm.Options) vm.Options {
	t.Helper()
	o.QEMU = testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86")
	o.Timeout = bootTimeout
	if dir := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, name+"-serial.log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		o.Serial = f
	}
	return o
}

// boot runs a machine until the live environment is ready.
func boot(t *testing.T, name string, o vm.Options) *vm.Console {
	t.Helper()
	o = machine(t, name, o)
	o.Until = &ready
	return vm.Run(t, name, o)
}

func uefi(t *testing.T, o vm.Options) vm.Options {
	t.Helper()
	code, vars, err := vm.OVMF()
	testenv.Require(t, "OVMF", err)
	o.OVMFCode, o.OVMFVars = code, vars
	return o
}

// secureBoot makes o a UEFI machine with Secure Boot on and Microsoft's
// keys enrolled.
func secureBoot(t *testing.T, o vm.Options) vm.Options {
	t.Helper()
	code, vars, err := vm.OVMFSecureBoot()
	testenv.Require(t, "OVMF with Secure Boot", err)
	o.OVMFCode, o.OVMFVars, o.SecureBoot = code, vars, true
	return o
}

// The stages every UEFI boot of the medium shows: the firmware starts it
// (shim, which starts systemd-boot), systemd-boot passes its entry's
// command line (it adds initrd=), the kernel runs bty-init.
func bootStages(medium string) []vm.Stage {
	return []vm.Stage{
		vm.Literal(`BdsDxe: starting Boot`),
		vm.Literal(`Command line: initrd=\live\initrd console=tty0 console=ttyS0,115200`),
		vm.Literal("bty-init: entered v"),
		// Debian's plain OVMF has no Secure Boot at all.
		vm.Literal("bty-init: firmware UEFI, Secure Boot unsupported, kernel lockdown none"),
		vm.Literal("bty-init: live medium " + medium + " mounted"),
	}
}

// secureStages: with Secure Boot on, the firmware started shim (it checked
// shim against Microsoft's CA), the kernel says Secure Boot is enabled
// (shim checked systemd-boot and the kernel against Debian's CA) and
// locked itself down, and bty-init read the firmware's SecureBoot variable
// after loading its modules, which the locked-down kernel loads only when
// signed.
var secureStages = []vm.Stage{
	vm.Literal(`BdsDxe: starting Boot`),
	vm.Literal("Kernel is locked down from EFI Secure Boot"),
	vm.Literal("secureboot: Secure boot enabled"),
	vm.Literal("bty-init: entered v"),
	vm.Literal("bty-init: loaded "),
	vm.Literal("bty-init: firmware UEFI, Secure Boot on, kernel lockdown integrity"),
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// partition finds a GPT partition of img by name.
func partition(t *testing.T, img, name string) gpt.Partition {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := gpt.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tab.Partitions {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("%s has no partition %q: %+v", img, name, tab.Partitions)
	return gpt.Partition{}
}

// mountRange mounts the exFAT at a byte range of img (a partition: the
// build machine's kernel may not read partition tables) with exfat-fuse.
func mountRange(t *testing.T, img string, off, size int64, readOnly bool) (dir string, unmount func()) {
	t.Helper()
	testenv.Require(t, "loop devices", loopdev.Available())
	dev, err := loopdev.AttachWith(img, loopdev.Options{Offset: off, Size: size, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	dir = testenv.MountExFAT(t, dev.Path, readOnly)
	return dir, func() { testenv.Unmount(t, dir); dev.Detach() }
}

// demoFiles writes a gzip disk image and a catalog into dir and returns
// each file's sha256 by path relative to dir.
func demoFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	gz := imagetest.Encode(t, catalog.Gzip, imagetest.Disk(2<<20, 5))
	h := sha256.Sum256(gz)
	files := map[string][]byte{
		"demo.img.gz": gz,
		"catalog.toml": []byte("version = 1\n\n[[images]]\nname = \"debian-remote\"\nsrc = \"https://images.example.invalid/debian.img.zst\"\nsha256 = \"" +
			hex.EncodeToString(h[:]) + "\"\n"),
	}
	sums := map[string]string{}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sums[name] = testenv.FileSHA256(t, filepath.Join(dir, name))
	}
	return sums
}

func checkFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for name, s := range want {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if got := testenv.FileSHA256(t, filepath.Join(dir, name)); got != s {
			t.Errorf("%s: sha256 %s, want %s", name, got, s)
		}
	}
}

func TestStickGrowsOnFirstBoot(t *testing.T) {
	stickImg := filepath.Join(t.TempDir(), "stick.img")
	copyFile(t, iso(t), stickImg)
	images := partition(t, stickImg, stick.ImagesLabel)
	off, size := int64(images.First)*gpt.SectorSize, int64(images.Sectors())*gpt.SectorSize
	dir, unmount := mountRange(t, stickImg, off, size, false)
	want := demoFiles(t, dir)
	unmount()
	// dd to a 4 GiB stick: the rest of the stick is unused (sparse here).
	if err := os.Truncate(stickImg, 4<<30); err != nil {
		t.Fatal(err)
	}

	con := boot(t, "usb-first-boot", uefi(t, vm.Options{USBStick: stickImg}))
	t.Logf("first boot (%s):\n%s", vm.Accel(testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86"), ""), con.Stages(t, append(bootStages("/dev/sda"),
		vm.Literal("bty: usb-grow grew BTY_IMAGES to "),
		vm.Literal("image_root: /var/lib/bty/images"),
		vm.Literal("demo.img.gz"),
		vm.Literal("debian-remote"),
		ready)...))

	grown := partition(t, stickImg, stick.ImagesLabel)
	if grown.First != images.First || int64(grown.Sectors())*gpt.SectorSize < 3900<<20 {
		t.Fatalf("BTY_IMAGES after the first boot: sectors %d-%d (%d MiB)", grown.First, grown.Last, grown.Sectors()>>11)
	}
	t.Logf("BTY_IMAGES grew from %d MiB to %d MiB", images.Sectors()>>11, grown.Sectors()>>11)
	if out, err := exec.Command(testenv.Tool(t, "sfdisk", "fdisk"), "--verify", stickImg).CombinedOutput(); err != nil || strings.Contains(string(out), "mismatch") {
		t.Errorf("sfdisk --verify: %v\n%s", err, out)
	}
	size = int64(grown.Sectors()) * gpt.SectorSize
	dir, unmount = mountRange(t, stickImg, off, size, true)
	checkFiles(t, dir, want)
	if _, err := os.Stat(filepath.Join(dir, stick.Grown)); err != nil {
		t.Errorf("no sentinel: %v", err)
	}
	unmount()

	con = boot(t, "usb-second-boot", uefi(t, vm.Options{USBStick: stickImg}))
	t.Logf("second boot:\n%s", con.Stages(t, append(bootStages("/dev/sda"),
		vm.Literal("bty: usb-grow skipped: grown before"),
		vm.Literal("image_root: /var/lib/bty/images"),
		vm.Literal("demo.img.gz"),
		ready)...))
	if again := partition(t, stickImg, stick.ImagesLabel); again != grown {
		t.Errorf("the second boot changed BTY_IMAGES: %+v", again)
	}
	dir, unmount = mountRange(t, stickImg, off, size, true)
	checkFiles(t, dir, want)
	unmount()
}

// TestVentoyStick: the ISO as a file on a stick's only (exFAT) partition,
// images in its bty-images folder. Ventoy itself is not reachable from this
// machine; QEMU boots the ISO's own kernel and initrd with the ISO's own
// command line, which is what Ventoy's boot loader does with a Linux ISO.
func TestVentoyStick(t *testing.T) {
	medium := iso(t)
	disk := filepath.Join(t.TempDir(), "ventoy.img")
	const start, total = 1 << 20, 4 << 30
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(total); err != nil {
		t.Fatal(err)
	}
	// An MBR with one exFAT partition (type 0x07), as Ventoy makes.
	mbr := make([]byte, 512)
	binary.LittleEndian.PutUint32(mbr[446+8:], start/512)
	binary.LittleEndian.PutUint32(mbr[446+12:], (total-start)/512)
	mbr[446+4] = 0x07
	mbr[510], mbr[511] = 0x55, 0xAA
	f.WriteAt(mbr, 0)
	if err := exfat.Format(io.NewOffsetWriter(f, start), total-start, exfat.Options{Label: "Ventoy", Serial: 42}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dir, unmount := mountRange(t, disk, start, total-start, false)
	isoName := filepath.Base(medium)
	copyFile(t, medium, filepath.Join(dir, isoName))
	os.Mkdir(filepath.Join(dir, stick.ImagesFolder), 0o755)
	demoFiles(t, filepath.Join(dir, stick.ImagesFolder))
	unmount()

	kernel, initrd := filepath.Join(t.TempDir(), "vmlinuz"), filepath.Join(t.TempDir(), "initrd")
	xorriso := testenv.Tool(t, "xorriso", "xorriso")
	if out, err := exec.Command(xorriso, "-osirrox", "on", "-indev", medium,
		"-extract", "/LIVE/VMLINUZ", kernel, "-extract", "/LIVE/INITRD", initrd).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	esp := partition(t, medium, "EFI system partition")
	entry, err := exec.Command(testenv.Tool(t, "mtype", "mtools"), "-i", medium+"@@"+strconv.FormatInt(int64(esp.First)*gpt.SectorSize, 10),
		"::/loader/entries/bty.conf").CombinedOutput()
	if err != nil {
		t.Fatalf("mtype: %v\n%s", err, entry)
	}
	var cmdline string
	for _, l := range strings.Split(string(entry), "\n") {
		if v, ok := strings.CutPrefix(l, "options "); ok {
			cmdline = strings.TrimSpace(v)
		}
	}
	if cmdline == "" {
		t.Fatalf("the boot entry has no options line:\n%s", entry)
	}

	con := boot(t, "ventoy", vm.Options{Kernel: kernel, Initrd: initrd, Append: cmdline,
		Disks: []vm.Disk{{Path: disk, Serial: "VENTOY"}}})
	t.Logf("Ventoy-style boot:\n%s", con.Stages(t,
		vm.Literal("bty-init: entered v"),
		vm.Literal("bty-init: live medium /dev/vda1:/"+isoName+" mounted"),
		vm.Literal("bty-init: no BTY_IMAGES partition"),
		vm.Literal("bty-init: images from /run/bty-sticks/vda1/bty-images"),
		vm.Literal("image_root: /var/lib/bty/images"),
		vm.Literal("demo.img.gz"),
		vm.Literal("CATALOG ENTRY"),
		vm.Literal("debian-remote"),
		ready))
}

func TestCD(t *testing.T) {
	con := boot(t, "cd", uefi(t, vm.Options{CDROM: iso(t)}))
	t.Logf("CD boot:\n%s", con.Stages(t, append(bootStages("/dev/sr0"),
		vm.Literal("bty-init: no BTY_IMAGES partition"),
		vm.Literal("image_root: /var/lib/bty/images"),
		ready)...))
}

// TestWizardFlashes drives the console wizard over the serial line, as an
// operator at a serial console would, on a machine with Secure Boot on
// (secureStages): pick the image on BTY_IMAGES, try
// the boot stick (refused), pick BTYTEST, confirm wrongly (nothing
// written), confirm, watch the flash, reboot; the disk then holds the
// image byte for byte.
func TestWizardFlashes(t *testing.T) {
	stickImg := filepath.Join(t.TempDir(), "stick.img")
	copyFile(t, iso(t), stickImg)
	images := partition(t, stickImg, stick.ImagesLabel)
	dir, unmount := mountRange(t, stickImg, int64(images.First)*gpt.SectorSize, int64(images.Sectors())*gpt.SectorSize, false)
	raw := imagetest.Disk(8<<20, 9)
	zst := imagetest.Encode(t, catalog.Zstd, raw)
	h := sha256.Sum256(zst)
	for name, b := range map[string][]byte{
		"demo.img.zst":        zst,
		"demo.img.zst.sha256": []byte(hex.EncodeToString(h[:]) + "  demo.img.zst\n"),
		"catalog.toml": []byte("version = 1\n\n[[images]]\nname = \"demo-remote\"\nsrc = \"https://images.example.invalid/demo.img.zst\"\nsha256 = \"" +
			hex.EncodeToString(h[:]) + "\"\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unmount()
	if err := os.Truncate(stickImg, 1<<30); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target.img")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(target, 64<<20); err != nil {
		t.Fatal(err)
	}

	m := vm.Start(t, "wizard", machine(t, "wizard", secureBoot(t, vm.Options{USBStick: stickImg, Disks: []vm.Disk{{Path: target, Serial: "BTYTEST"}}})))
	at := m.WaitFor(t, 0, vm.Literal("Pick the image to write"))
	_, first := m.Console.FindStage(0, vm.Literal("Pick the image to write"))
	// Keys as an operator types them: one at a time.
	typeKeys := func(keys ...string) {
		for _, k := range keys {
			if err := m.Send(k); err != nil {
				t.Fatal(err)
			}
			time.Sleep(150 * time.Millisecond)
		}
	}
	m.WaitFor(t, at, vm.Literal("demo-remote"))
	typeKeys("1")
	at = m.WaitFor(t, at, vm.Literal("Pick the disk to erase"))
	at = m.WaitFor(t, at, vm.Literal("cannot use: the boot stick"))
	typeKeys("2") // the stick: listed second, after the disks that can be chosen
	at = m.WaitFor(t, at, vm.Literal("! cannot use sda: the boot stick"))
	typeKeys("1")
	at = m.WaitFor(t, at, vm.Literal("Type the disk's serial"))
	typeKeys("N", "O", "P", "E", "\r")
	at = m.WaitFor(t, at, vm.Literal("nothing was written"))
	if b, err := os.ReadFile(target); err != nil || !bytes.Equal(b, make([]byte, 64<<20)) {
		t.Fatalf("a wrong confirmation wrote to the disk (%v)", err)
	}
	typeKeys("T", "E", "S", "T", "\r")
	flashing := m.WaitFor(t, at, vm.Literal("bty: wizard flashing demo.img.zst onto /dev/vda (serial BTYTEST)"))
	m.WaitFor(t, flashing, vm.Literal("bty: write 100%"))
	done := m.WaitFor(t, flashing, vm.Literal("bty: flash complete; sha256 "+hex.EncodeToString(h[:])+" verified"))
	m.WaitFor(t, done, vm.Literal("VERIFIED"))
	_, start := m.Console.FindStage(flashing, vm.Literal("bty: wizard flashing"))
	_, end := m.Console.FindStage(flashing, vm.Literal("bty: flash complete"))
	typeKeys("r")
	con := m.Wait(t)
	t.Logf("Secure Boot timeline (QEMU start = 0):\n%s", con.Stages(t, append(secureStages, vm.Literal("reboot: Restarting system"))...))
	con.AllModulesLoaded(t)
	t.Logf("wizard's first screen %.1fs after power-on; flash of %s (%s decoded) %.1fs",
		first.Seconds(), "demo.img.zst", "8 MiB", (end - start).Seconds())

	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(raw)], raw) || !bytes.Equal(got[len(raw):], make([]byte, len(got)-len(raw))) {
		t.Errorf("the disk does not hold the image (first difference at byte %d)", testenv.FirstDiff(got[:len(raw)], raw))
	}
}

// TestStickReformattedAsFAT: an operator who reformats BTY_IMAGES as FAT
// (Windows offers it) keeps a working stick: neither the partition tables
// nor BTY_IMAGES change, and the images on it are listed.
func TestStickReformattedAsFAT(t *testing.T) {
	stickImg := filepath.Join(t.TempDir(), "stick.img")
	copyFile(t, iso(t), stickImg)
	images := partition(t, stickImg, stick.ImagesLabel)
	off, size := int64(images.First)*gpt.SectorSize, int64(images.Sectors())*gpt.SectorSize
	testenv.Require(t, "loop devices", loopdev.Available())
	dev, err := loopdev.AttachWith(stickImg, loopdev.Options{Offset: off, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testenv.Tool(t, "mkfs.vfat", "dosfstools"), "-n", stick.ImagesLabel, dev.Path).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	dev.Detach()
	demo := filepath.Join(t.TempDir(), "fat-demo.img.gz")
	if err := os.WriteFile(demo, imagetest.Encode(t, catalog.Gzip, imagetest.Disk(1<<20, 7)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testenv.Tool(t, "mcopy", "mtools"), "-i", stickImg+"@@"+strconv.FormatInt(off, 10), demo, "::/fat-demo.img.gz").CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	before, err := os.ReadFile(stickImg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(stickImg, 1<<30); err != nil {
		t.Fatal(err)
	}
	con := boot(t, "usb-fat", uefi(t, vm.Options{USBStick: stickImg}))
	t.Logf("FAT BTY_IMAGES:\n%s", con.Stages(t, append(bootStages("/dev/sda"),
		vm.Literal("bty: usb-grow skipped: BTY_IMAGES (/dev/sda2) holds vfat, not the exFAT bty made"),
		vm.Literal("image_root: /var/lib/bty/images"),
		vm.Literal("fat-demo.img.gz"),
		ready)...))
	after, err := os.ReadFile(stickImg)
	if err != nil {
		t.Fatal(err)
	}
	// The partition tables and BTY_IMAGES are as they were. (The ESP is
	// not compared: UEFI firmware and systemd-boot may write there.)
	n := int64(len(before))
	for _, r := range []struct {
		what     string
		from, to int64
	}{
		{"the protective MBR and primary GPT", 0, gpt.ReservedSectors*gpt.SectorSize + gpt.SectorSize},
		{"BTY_IMAGES", off, off + size},
		{"the backup GPT", n - gpt.ReservedSectors*gpt.SectorSize, n},
	} {
		if !bytes.Equal(before[r.from:r.to], after[r.from:r.to]) {
			t.Errorf("the boot changed %s at byte %d", r.what, r.from+int64(testenv.FirstDiff(before[r.from:r.to], after[r.from:r.to])))
		}
	}
}

// command runs a tool and fails the test with its output if it fails.
func command(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// editOnESP copies file (an mtools path, ::/...) off the stick's EFI
// system partition, lets edit change the copy in place, and writes it
// back, as an operator would with mtools.
func editOnESP(t *testing.T, stickImg, file string, edit func(path string)) {
	t.Helper()
	esp := partition(t, stickImg, "EFI system partition")
	fs := stickImg + "@@" + strconv.FormatInt(int64(esp.First)*gpt.SectorSize, 10)
	local := filepath.Join(t.TempDir(), path.Base(file))
	mcopy := testenv.Tool(t, "mcopy", "mtools")
	command(t, mcopy, "-i", fs, file, local)
	edit(local)
	command(t, mcopy, "-o", "-i", fs, local, file)
}

// TestTamperedChainRefused: a stick with one byte changed in shim is
// refused by the firmware (shim's signature no longer matches it), one
// with a byte changed in the kernel by shim, which systemd-boot asks.
// Either way no kernel runs: the VM is stopped at the refusal, and the
// console must show no kernel and no bty-init.
func TestTamperedChainRefused(t *testing.T) {
	for _, tc := range []struct{ name, file, refusal string }{
		{"shim", "::/EFI/BOOT/BOOTX64.EFI", "Access Denied"},
		{"kernel", "::/live/vmlinuz", "Security violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stickImg := filepath.Join(t.TempDir(), "stick.img")
			copyFile(t, iso(t), stickImg)
			editOnESP(t, stickImg, tc.file, func(file string) {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 0x01
				if err := os.WriteFile(file, b, 0o644); err != nil {
					t.Fatal(err)
				}
			})
			refused := vm.Literal(tc.refusal)
			o := machine(t, "tampered-"+tc.name, secureBoot(t, vm.Options{USBStick: stickImg}))
			o.Until = &refused
			con := vm.Run(t, "tampered-"+tc.name, o)
			t.Logf("tampered %s:\n%s", tc.name, con.Stages(t, vm.Literal("BdsDxe: loading Boot"), refused))
			for _, ran := range []string{"Linux version", "bty-init"} {
				if i, _ := con.FindStage(0, vm.Literal(ran)); i >= 0 {
					t.Errorf("a stick with a changed %s ran %q:\n%s", tc.name, ran, con.Tail(40))
				}
			}
		})
	}
}

// biosStages: SeaBIOS starts the medium, ISOLINUX loads the kernel and
// initrd from the ISO 9660 tree, bty-init sees no UEFI.
func biosStages(from, medium string) []vm.Stage {
	return []vm.Stage{
		vm.Literal("SeaBIOS"),
		vm.Literal("Booting from " + from),
		vm.Literal("ISOLINUX 6"),
		vm.Literal("Loading /live/vmlinuz"),
		vm.Literal("bty-init: entered v"),
		vm.Literal("bty-init: firmware BIOS"),
		vm.Literal("bty-init: live medium " + medium + " mounted"),
	}
}

// TestBIOSStick: the dd-written stick on a BIOS machine boots through the
// hybrid MBR; the first boot grows BTY_IMAGES there too, and the GPT stays
// valid.
func TestBIOSStick(t *testing.T) {
	stickImg := filepath.Join(t.TempDir(), "stick.img")
	copyFile(t, iso(t), stickImg)
	if err := os.Truncate(stickImg, 1<<30); err != nil {
		t.Fatal(err)
	}
	con := boot(t, "bios-stick", vm.Options{USBStick: stickImg})
	t.Logf("BIOS stick:\n%s", con.Stages(t, append(biosStages("Hard Disk", "/dev/sda"),
		vm.Literal("bty: usb-grow grew BTY_IMAGES to "),
		vm.Literal("image_root: /var/lib/bty/images"),
		ready)...))
	if out, err := exec.Command(testenv.Tool(t, "sfdisk", "fdisk"), "--verify", stickImg).CombinedOutput(); err != nil || strings.Contains(string(out), "mismatch") {
		t.Errorf("sfdisk --verify after the BIOS boot: %v\n%s", err, out)
	}
}

// TestBIOSCD: the ISO in a BIOS machine's CD drive boots through El
// Torito's BIOS entry.
func TestBIOSCD(t *testing.T) {
	con := boot(t, "bios-cd", vm.Options{CDROM: iso(t)})
	t.Logf("BIOS CD:\n%s", con.Stages(t, append(biosStages("DVD/CD", "/dev/sr0"), ready)...))
}

// TestOwnKeys: a machine whose firmware trusts only its owner's keys (no
// Microsoft CA in db; OVMF's build with Debian's throw-away "snakeoil" keys
// as PK, KEK and db) refuses the stick as shipped, and boots it with
// Secure Boot on once shim is signed with the owner's db key, as the
// guide's USB chapter says (sbsign, mcopy): shim goes on trusting Debian's
// CA for systemd-boot and the kernel.
func TestOwnKeys(t *testing.T) {
	code, vars, key, cert := "/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd", "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd",
		"/usr/share/ovmf/PkKek-1-snakeoil.key", "/usr/share/ovmf/PkKek-1-snakeoil.pem"
	for _, p := range []string{code, vars, key, cert} {
		_, err := os.Stat(p)
		testenv.Require(t, "OVMF with its snakeoil keys", err)
	}
	own := func(o vm.Options) vm.Options {
		o.OVMFCode, o.OVMFVars, o.SecureBoot = code, vars, true
		return o
	}
	stickImg := filepath.Join(t.TempDir(), "stick.img")
	copyFile(t, iso(t), stickImg)

	refused := vm.Literal("Access Denied")
	o := machine(t, "own-keys-as-shipped", own(vm.Options{USBStick: stickImg}))
	o.Until = &refused
	con := vm.Run(t, "own-keys-as-shipped", o)
	if i, _ := con.FindStage(0, vm.Literal("bty-init")); i >= 0 {
		t.Fatalf("a firmware without Microsoft's CA ran the stick as shipped:\n%s", con.Tail(40))
	}

	// Debian ships the throw-away key encrypted, with the passphrase
	// "snakeoil" (an owner's key would be theirs to unlock).
	dbKey := filepath.Join(t.TempDir(), "db.key")
	command(t, testenv.Tool(t, "openssl", "openssl"), "pkey", "-in", key, "-passin", "pass:snakeoil", "-out", dbKey)
	editOnESP(t, stickImg, "::/EFI/BOOT/BOOTX64.EFI", func(shim string) {
		command(t, testenv.Tool(t, "sbsign", "sbsigntool"), "--key", dbKey, "--cert", cert, "--output", shim, shim)
	})
	con = boot(t, "own-keys-signed", own(vm.Options{USBStick: stickImg}))
	t.Logf("own keys, shim signed with the owner's db key:\n%s", con.Stages(t, append(secureStages, ready)...))
	con.AllModulesLoaded(t)
}
