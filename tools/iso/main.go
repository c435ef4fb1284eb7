// Command iso builds bty's USB live medium: one file that is an ISO 9660
// image with El Torito boot entries for BIOS and UEFI (for CDs and virtual
// drives) and at the same time a GPT disk image (for `dd` to a stick, and
// Ventoy) whose MBR boots BIOS machines too, holding:
//
//   - an EFI system partition (FAT16) with the Secure Boot chain: Debian's
//     shim as the removable media boot loader, systemd-boot (signed by
//     Debian) as the second stage shim starts, its loader entry, and the
//     kernel and initrd;
//   - the ISO 9660 tree: /live/ with the same kernel and initrd (the very
//     same sectors as on the ESP) and the squashfs; /isolinux/ with
//     ISOLINUX, the BIOS loader (see bios.go);
//   - an appended exFAT partition, BTY_IMAGES, for the operator's images,
//     which bty-init grows to the end of the stick on first boot.
//
// Usage:
//
//	iso -out X.iso -kernel vmlinuz -initrd initrd -squashfs live.squashfs \
//	    -shim shimx64.efi -loader systemd-bootx64.efi \
//	    -isolinux isolinux.bin -ldlinux ldlinux.c32 -mbr isohdpfx.bin \
//	    -version 1.2.3 -cmdline "console=..."
//
// Every byte is a function of the inputs and SOURCE_DATE_EPOCH: dates,
// volume serials and GUIDs are derived, never read from the clock or drawn
// at random.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/bty-lab/bty/bty/exfat"
	"github.com/bty-lab/bty/bty/fat"
	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/bty/stick"
)

// Sectors of the ISO 9660 metadata, in order after the system area (0-15)
// and the descriptors (16-18).
const (
	catalogSector  = 19
	pathLSector    = 20
	pathMSector    = 21
	rootSector     = 22
	isolinuxSector = 23
	liveSector     = 24
	espSector      = 25
)

// shimLoader is the name shim starts its second stage by, from its own
// directory: GRUB's, whichever loader it is.
const shimLoader = "EFI/BOOT/grubx64.efi"

// mib is the alignment of BTY_IMAGES: flash media erase in such blocks.
const mib = 1 << 20

// espSpare is free room on the ESP: an operator who replaces a file with a
// larger one (shim signed with their own db key carries a second
// signature) must not find the partition full.
const espSpare = 1 << 20

type config struct {
	Out, Kernel, Initrd, Squashfs, Shim, Loader string
	Isolinux, Ldlinux, MBR                      string
	Version, Cmdline                            string
	ImagesSize                                  int64
	Epoch                                       time.Time
}

func main() {
	var c config
	var imagesMiB int64
	flag.StringVar(&c.Out, "out", "", "the image to write")
	flag.StringVar(&c.Kernel, "kernel", "", "the kernel (an EFI-stub bzImage)")
	flag.StringVar(&c.Initrd, "initrd", "", "the initrd")
	flag.StringVar(&c.Squashfs, "squashfs", "", "the live squashfs")
	flag.StringVar(&c.Shim, "shim", "", "the first-stage EFI loader, signed for Secure Boot (Debian's shimx64.efi)")
	flag.StringVar(&c.Loader, "loader", "", "the EFI boot loader shim starts (systemd-boot's systemd-bootx64.efi, signed)")
	flag.StringVar(&c.Isolinux, "isolinux", "", "the BIOS boot loader (ISOLINUX's isolinux.bin)")
	flag.StringVar(&c.Ldlinux, "ldlinux", "", "ISOLINUX's second part (syslinux's BIOS ldlinux.c32)")
	flag.StringVar(&c.MBR, "mbr", "", "the hybrid MBR code for BIOS USB boots (ISOLINUX's isohdpfx.bin)")
	flag.StringVar(&c.Version, "version", "", "bty's version, for the volume id and the boot entry")
	flag.StringVar(&c.Cmdline, "cmdline", "", "the kernel command line")
	flag.Int64Var(&imagesMiB, "images-mib", 32, "the size of the BTY_IMAGES partition in MiB")
	flag.Parse()
	c.ImagesSize = imagesMiB * mib
	epoch, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iso: SOURCE_DATE_EPOCH must be set to the build's time in seconds")
		os.Exit(2)
	}
	c.Epoch = time.Unix(epoch, 0).UTC()
	if err := build(c); err != nil {
		fmt.Fprintf(os.Stderr, "iso: %v\n", err)
		os.Exit(1)
	}
}

func build(c config) error {
	for name, v := range map[string]string{"-out": c.Out, "-kernel": c.Kernel, "-initrd": c.Initrd,
		"-squashfs": c.Squashfs, "-shim": c.Shim, "-loader": c.Loader, "-isolinux": c.Isolinux, "-ldlinux": c.Ldlinux,
		"-mbr": c.MBR, "-version": c.Version} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	if c.ImagesSize < exfat.MinSize {
		return fmt.Errorf("-images-mib: BTY_IMAGES needs at least %d MiB", exfat.MinSize/mib)
	}
	// The files that go in whole (the squashfs is streamed below).
	var kernel, initrd, shim, loader, isolinux, ldlinux, mbrCode []byte
	for _, in := range []struct {
		path string
		data *[]byte
	}{{c.Kernel, &kernel}, {c.Initrd, &initrd}, {c.Shim, &shim}, {c.Loader, &loader},
		{c.Isolinux, &isolinux}, {c.Ldlinux, &ldlinux}, {c.MBR, &mbrCode}} {
		b, err := os.ReadFile(in.path)
		if err != nil {
			return fmt.Errorf("reading %w", err)
		}
		*in.data = b
	}
	sq, err := os.Open(c.Squashfs)
	if err != nil {
		return fmt.Errorf("reading %w", err)
	}
	defer sq.Close()
	sqInfo, err := sq.Stat()
	if err != nil {
		return err
	}

	seed := func(what string) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "bty-usbboot %s %d %s", c.Version, c.Epoch.Unix(), what))
		return h[:]
	}
	entry := fmt.Sprintf("title bty v%s\nlinux /%s\ninitrd /%s\noptions %s\n", c.Version, stick.Kernel, stick.Initrd, c.Cmdline)
	esp, err := fat.Build([]fat.File{
		{Path: "EFI/BOOT/BOOTX64.EFI", Data: shim},
		{Path: shimLoader, Data: loader},
		// No menu, no editing: the stick boots straight into bty.
		{Path: "loader/loader.conf", Data: []byte("timeout 0\neditor no\ndefault bty.conf\n")},
		{Path: "loader/entries/bty.conf", Data: []byte(entry)},
		{Path: stick.Kernel, Data: kernel},
		{Path: stick.Initrd, Data: initrd},
	}, "BTY-EFI", binary.LittleEndian.Uint32(seed("esp serial")), c.Epoch, espSpare)
	if err != nil {
		return err
	}
	espSectors := uint32(sectors(int64(len(esp.Image))))
	if espSectors*4 > 0xFFFF {
		return fmt.Errorf("the EFI system partition is %d MiB; El Torito can describe at most 32 MiB", len(esp.Image)>>20)
	}
	// ISOLINUX's files follow the ESP, each from a sector of its own.
	biosFiles := []isoFile{
		{Name: "ISOLINUX.BIN", Size: uint32(len(isolinux))},
		{Name: "ISOLINUX.CFG"},
		{Name: "LDLINUX.C32", Size: uint32(len(ldlinux))},
	}
	isolinuxCfg := isolinuxConfig(stick.Kernel, stick.Initrd, c.Cmdline)
	biosFiles[1].Size = uint32(len(isolinuxCfg))
	next := espSector + espSectors
	for i := range biosFiles {
		biosFiles[i].Extent = next
		next += uint32(sectors(int64(biosFiles[i].Size)))
	}
	isolinux, err = bootInfoTable(isolinux, biosFiles[0].Extent)
	if err != nil {
		return err
	}
	sqSector := next
	isoEnd := sqSector + uint32(sectors(sqInfo.Size()))
	imagesAt := roundUp(int64(isoEnd)*isoSector, mib)
	imagesEnd := imagesAt + c.ImagesSize
	size := roundUp(imagesEnd+gpt.ReservedSectors*gpt.SectorSize, isoSector)

	tmp := c.Out + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		return err
	}
	put := func(sector uint32, data []byte) error {
		_, err := out.WriteAt(data, int64(sector)*isoSector)
		return err
	}
	if err := put(espSector, esp.Image); err != nil {
		return err
	}
	for i, data := range [][]byte{isolinux, isolinuxCfg, ldlinux} {
		if err := put(biosFiles[i].Extent, data); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.NewOffsetWriter(out, int64(sqSector)*isoSector), sq); err != nil {
		return fmt.Errorf("copying the squashfs: %w", err)
	}
	inESP := func(p string) uint32 { return espSector + uint32(esp.Offsets[p]/isoSector) }
	err = writeISO9660(put, isoVolume{
		VolumeID:    stick.VolumeID(c.Version),
		Application: "BTY " + c.Version,
		Created:     c.Epoch,
		Sectors:     isoEnd,
		Catalog:     catalogSector,
		BIOSImage:   biosFiles[0].Extent,
		BootImage:   espSector,
		BootSectors: uint16(espSectors * 4),
		PathL:       pathLSector,
		PathM:       pathMSector,
		Root:        rootSector,
		Dirs: []isoDir{{Name: "ISOLINUX", Extent: isolinuxSector, Files: biosFiles}, {Name: "LIVE", Extent: liveSector, Files: []isoFile{
			{Name: "BTY.SQUASHFS", Extent: sqSector, Size: uint32(sqInfo.Size())},
			{Name: "INITRD", Extent: inESP(stick.Initrd), Size: uint32(len(initrd))},
			{Name: "VMLINUZ", Extent: inESP(stick.Kernel), Size: uint32(len(kernel))},
		}}},
	})
	if err != nil {
		return fmt.Errorf("writing the ISO 9660 tree: %w", err)
	}

	disk := uint64(size) / gpt.SectorSize
	err = gpt.Write(out, disk, gpt.Table{
		DiskGUID: guid(seed("disk")),
		Partitions: []gpt.Partition{
			{Type: gpt.TypeEFISystem, GUID: guid(seed("esp")), Name: "EFI system partition",
				First: espSector * 4, Last: uint64(espSector+espSectors)*4 - 1},
			{Type: gpt.TypeBasicData, GUID: guid(seed("images")), Name: stick.ImagesLabel,
				First: uint64(imagesAt) / gpt.SectorSize, Last: uint64(imagesEnd)/gpt.SectorSize - 1},
		},
	})
	if err != nil {
		return fmt.Errorf("writing the partition table: %w", err)
	}
	// The protective MBR's code area boots BIOS machines from the stick;
	// its partition table stays as the GPT wrote it.
	mbr, err := hybridMBR(mbrCode, biosFiles[0].Extent)
	if err != nil {
		return err
	}
	if _, err := out.WriteAt(mbr, 0); err != nil {
		return err
	}
	err = exfat.Format(io.NewOffsetWriter(out, imagesAt), c.ImagesSize, exfat.Options{
		Label:           stick.ImagesLabel,
		Serial:          binary.LittleEndian.Uint32(seed("images serial")),
		PartitionOffset: uint64(imagesAt) / gpt.SectorSize,
	})
	if err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, c.Out)
}

// guid makes a version-4-shaped GUID from derived bytes.
func guid(b []byte) gpt.GUID {
	var g gpt.GUID
	copy(g[:], b)
	g[7] = g[7]&0x0F | 0x40 // version 4 (byte 7 on disk: the third field is little-endian)
	g[8] = g[8]&0x3F | 0x80 // RFC 4122 variant
	return g
}

func sectors(n int64) int64 { return (n + isoSector - 1) / isoSector }

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }
