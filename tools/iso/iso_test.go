package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/bty/stick"
	"github.com/bty-lab/bty/internal/testenv"
)

// inputs writes stand-ins for the kernel, initrd, squashfs and loader:
// random bytes (the tool copies them verbatim), big enough that the ESP
// needs no padding to FAT16's minimum of 4096 clusters.
func inputs(t *testing.T) config {
	t.Helper()
	dir := t.TempDir()
	c := config{Version: "1.2.3-rc.1", Cmdline: "console=tty0 console=ttyS0,115200", ImagesSize: 32 << 20,
		Epoch: time.Unix(1700000000, 0).UTC()}
	for _, f := range []struct {
		dst  *string
		name string
		size int
	}{{&c.Kernel, "vmlinuz", 6<<20 + 17}, {&c.Initrd, "initrd", 3<<20 + 3}, {&c.Squashfs, "live.squashfs", 2 << 20},
		{&c.Shim, "shim.efi", 900 << 10}, {&c.Loader, "loader.efi", 100 << 10},
		{&c.Isolinux, "isolinux.bin", 38912}, {&c.Ldlinux, "ldlinux.c32", 118884}, {&c.MBR, "isohdpfx.bin", mbrCodeSize}} {
		b := make([]byte, f.size)
		rand.Read(b)
		*f.dst = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.Out = filepath.Join(dir, "out.iso")
	return c
}

func buildBytes(t *testing.T, c config) []byte {
	t.Helper()
	if err := build(c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(c.Out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeterministic(t *testing.T) {
	c := inputs(t)
	first := buildBytes(t, c)
	second := buildBytes(t, c)
	if !bytes.Equal(first, second) {
		t.Fatalf("two builds differ at byte %d", testenv.FirstDiff(first, second))
	}
	c.Epoch = c.Epoch.Add(time.Hour)
	if bytes.Equal(first, buildBytes(t, c)) {
		t.Error("SOURCE_DATE_EPOCH changes nothing in the image")
	}
}

func run(t *testing.T, tool, pkg string, args ...string) string {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, tool, pkg), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestReferenceToolsAgree reads the image with the tools operators and
// firmware vendors trust, each an independent reader of one layer.
func TestReferenceToolsAgree(t *testing.T) {
	c := inputs(t)
	img := buildBytes(t, c)

	// ISO 9660 and El Torito, by libisofs.
	report := run(t, "xorriso", "xorriso", "-indev", c.Out, "-report_el_torito", "plain")
	for _, want := range []string{"Volume id    : 'BTY_1_2_3_RC_1'", "El Torito boot img :   1  BIOS  y   none",
		"El Torito boot img :   2  UEFI  y   none", "GPT"} {
		if !strings.Contains(report, want) {
			t.Errorf("xorriso's report lacks %q:\n%s", want, report)
		}
	}
	dir := t.TempDir()
	run(t, "xorriso", "xorriso", "-osirrox", "on", "-indev", c.Out, "-extract", "/LIVE", dir)
	for name, src := range map[string]string{"VMLINUZ": c.Kernel, "INITRD": c.Initrd, "BTY.SQUASHFS": c.Squashfs} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		want, _ := os.ReadFile(src)
		if !bytes.Equal(got, want) {
			t.Errorf("/LIVE/%s: %d bytes, differs from the input (%d bytes)", name, len(got), len(want))
		}
	}

	// The partition table, by util-linux.
	run(t, "sfdisk", "fdisk", "--verify", c.Out)
	f, _ := os.Open(c.Out)
	tab, err := gpt.Read(f)
	f.Close()
	if err != nil || len(tab.Partitions) != 2 {
		t.Fatalf("partitions: %+v, %v", tab.Partitions, err)
	}
	esp, images := tab.Partitions[0], tab.Partitions[1]
	if esp.Type != gpt.TypeEFISystem || images.Name != stick.ImagesLabel || images.Sectors()*gpt.SectorSize != 32<<20 || images.First%2048 != 0 {
		t.Errorf("partitions: %+v", tab.Partitions)
	}
	part := func(p gpt.Partition) string {
		out := filepath.Join(t.TempDir(), "part")
		if err := os.WriteFile(out, img[p.First*gpt.SectorSize:(p.Last+1)*gpt.SectorSize], 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// The ESP, by dosfstools and mtools.
	espImg := part(esp)
	run(t, "fsck.fat", "dosfstools", "-n", espImg)
	entry := run(t, "mtype", "mtools", "-i", espImg, "::/loader/entries/bty.conf")
	if want := "title bty v1.2.3-rc.1\nlinux /live/vmlinuz\ninitrd /live/initrd\noptions " + c.Cmdline + "\n"; entry != want {
		t.Errorf("boot entry:\n%s\nwant:\n%s", entry, want)
	}
	if conf := run(t, "mtype", "mtools", "-i", espImg, "::/loader/loader.conf"); !strings.Contains(conf, "timeout 0") {
		t.Errorf("loader.conf: %s", conf)
	}
	// shim as the removable-media loader, systemd-boot where shim looks
	// for its second stage.
	for name, src := range map[string]string{"BOOTX64.EFI": c.Shim, "grubx64.efi": c.Loader} {
		copied := filepath.Join(t.TempDir(), name)
		run(t, "mcopy", "mtools", "-i", espImg, "::/EFI/BOOT/"+name, copied)
		got, _ := os.ReadFile(copied)
		want, _ := os.ReadFile(src)
		if !bytes.Equal(got, want) {
			t.Errorf("/EFI/BOOT/%s differs from its input", name)
		}
	}
	if listing := run(t, "mdir", "mtools", "-i", espImg, "-b", "::/live"); !strings.Contains(listing, "::/live/vmlinuz") {
		t.Errorf("the ESP's /live, as mtools lists it:\n%s", listing)
	}
	// Room to replace shim with a copy signed by the operator's own key.
	var free int64
	for _, l := range strings.Split(run(t, "mdir", "mtools", "-i", espImg, "::/"), "\n") {
		if f, ok := strings.CutSuffix(strings.TrimSpace(l), " bytes free"); ok {
			free, _ = strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(f), " ", ""), 10, 64)
		}
	}
	if free < espSpare {
		t.Errorf("the ESP has %d bytes free; want at least %d", free, espSpare)
	}

	// BTY_IMAGES, by exfatprogs.
	imagesImg := part(images)
	run(t, "fsck.exfat", "exfatprogs", "-n", imagesImg)
	if label := run(t, "exfatlabel", "exfatprogs", imagesImg); !strings.Contains(label, stick.ImagesLabel) {
		t.Errorf("exfatlabel: %s", label)
	}
}

// TestNoBytesTwice: the kernel and initrd are stored once, inside the ESP,
// and the ISO 9660 tree points at them; all else is BTY_IMAGES and a few
// hundred KiB of metadata.
func TestNoBytesTwice(t *testing.T) {
	c := inputs(t)
	img := buildBytes(t, c)
	var payload int64
	for _, p := range []string{c.Kernel, c.Initrd, c.Squashfs, c.Shim, c.Loader, c.Isolinux, c.Ldlinux} {
		fi, _ := os.Stat(p)
		payload += fi.Size()
	}
	overhead := int64(len(img)) - payload - c.ImagesSize
	if overhead < 0 || overhead > espSpare+1<<20+64<<10 { // the ESP's spare room, the 1 MiB alignment of BTY_IMAGES and the tables
		t.Errorf("the image is %d bytes: %d bytes beyond its inputs and BTY_IMAGES", len(img), overhead)
	}
}

func TestRefusals(t *testing.T) {
	c := inputs(t)
	c.ImagesSize = 512 << 10
	if err := build(c); err == nil || !strings.Contains(err.Error(), "-images-mib") {
		t.Errorf("tiny BTY_IMAGES: %v", err)
	}
	c = inputs(t)
	c.Kernel = filepath.Join(t.TempDir(), "missing")
	if err := build(c); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing kernel: %v", err)
	}
	c = inputs(t)
	big := make([]byte, 40<<20)
	os.WriteFile(c.Kernel, big, 0o644)
	if err := build(c); err == nil || !strings.Contains(err.Error(), "El Torito") {
		t.Errorf("a 40 MiB kernel: %v", err)
	}
	if _, err := os.Stat(c.Out); err == nil {
		t.Error("a failed build left its output")
	}
}

func TestNames(t *testing.T) {
	if err := checkIdentifier("live", 31); err == nil {
		t.Error("a lower-case ISO 9660 identifier was accepted")
	}
}

// TestBIOSBoot: what BIOS firmware and ISOLINUX read. From a CD, El
// Torito's x86 entry (checked by xorriso above) loads isolinux.bin, which
// loads the rest of itself from its boot information table; from a stick,
// the MBR code loads it from the sector after the code. ISOLINUX then
// reads its config, which boots the UEFI entry's kernel, initrd and
// command line.
func TestBIOSBoot(t *testing.T) {
	c := inputs(t)
	img := buildBytes(t, c)
	dir := t.TempDir()
	run(t, "xorriso", "xorriso", "-osirrox", "on", "-indev", c.Out, "-extract", "/ISOLINUX", dir)
	cfg, _ := os.ReadFile(filepath.Join(dir, "ISOLINUX.CFG"))
	for _, want := range []string{"LINUX /live/vmlinuz\n", "INITRD /live/initrd\n", "APPEND " + c.Cmdline + "\n", "TIMEOUT 0\n"} {
		if !bytes.Contains(cfg, []byte(want)) {
			t.Errorf("isolinux.cfg lacks %q:\n%s", want, cfg)
		}
	}
	ldlinux, _ := os.ReadFile(filepath.Join(dir, "LDLINUX.C32"))
	if want, _ := os.ReadFile(c.Ldlinux); !bytes.Equal(ldlinux, want) {
		t.Error("/ISOLINUX/LDLINUX.C32 differs from its input")
	}
	isolinux, _ := os.ReadFile(filepath.Join(dir, "ISOLINUX.BIN"))
	orig, _ := os.ReadFile(c.Isolinux)
	sector := binary.LittleEndian.Uint32(isolinux[12:])
	if !bytes.Equal(img[int64(sector)*isoSector:int64(sector)*isoSector+int64(len(isolinux))], isolinux) {
		t.Fatalf("the boot information table names sector %d, which does not hold isolinux.bin", sector)
	}
	if pvd, n := binary.LittleEndian.Uint32(isolinux[8:]), binary.LittleEndian.Uint32(isolinux[16:]); pvd != 16 || int(n) != len(orig) {
		t.Errorf("boot information table: volume descriptor %d, length %d", pvd, n)
	}
	if !bytes.Equal(isolinux[:8], orig[:8]) || !bytes.Equal(isolinux[64:], orig[64:]) {
		t.Error("isolinux.bin changed outside its boot information table")
	}
	if !bytes.Equal(img[:mbrCodeSize], mustRead(t, c.MBR)) {
		t.Error("sector 0 does not start with the hybrid MBR code")
	}
	if lba := binary.LittleEndian.Uint64(img[mbrCodeSize:]); lba != uint64(sector)*4 {
		t.Errorf("the MBR loads sector %d; isolinux.bin is at 512-byte sector %d", lba, sector*4)
	}
	if img[450] != 0xEE || img[510] != 0x55 || img[511] != 0xAA {
		t.Error("the hybrid MBR lost the protective MBR's partition entry or signature")
	}
	if _, err := bootInfoTable(make([]byte, 10), 1); err == nil {
		t.Error("a 10-byte isolinux.bin was accepted")
	}
	if _, err := hybridMBR(make([]byte, 440), 1); err == nil {
		t.Error("a 440-byte MBR code was accepted")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
