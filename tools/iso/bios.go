package main

import (
	"encoding/binary"
	"fmt"
)

// BIOS machines boot the medium through ISOLINUX, Debian's syslinux build
// for ISO 9660: from a CD by El Torito's x86 entry, and from a USB stick by
// isohdpfx.bin, ISOLINUX's hybrid MBR code, which loads isolinux.bin from
// the sector written after it. ISOLINUX then reads the ISO 9660 tree
// itself: its config in /ISOLINUX, and the kernel and initrd in /LIVE,
// which are the very sectors the ESP holds.

// mbrCodeSize is how much of sector 0 is boot code: the hybrid MBR's
// code, then (from 432) the boot file's sector, the disk signature (440)
// and the partition table (446), which the protective MBR keeps.
const mbrCodeSize = 432

// isolinuxConfig boots the live entry at once, on the screen and on the
// first serial port, with the UEFI entry's kernel, initrd and command line.
func isolinuxConfig(kernel, initrd, cmdline string) []byte {
	return fmt.Appendf(nil, "SERIAL 0 115200\nDEFAULT bty\nPROMPT 0\nTIMEOUT 0\nLABEL bty\n  LINUX /%s\n  INITRD /%s\n  APPEND %s\n",
		kernel, initrd, cmdline)
}

// bootInfoTable returns isolinux.bin with El Torito's boot information
// table filled in (what mkisofs -boot-info-table writes): ISOLINUX loads
// the rest of itself from the sector and length it finds there.
func bootInfoTable(isolinux []byte, sector uint32) ([]byte, error) {
	if len(isolinux) < 64+4 || len(isolinux)%4 != 0 {
		return nil, fmt.Errorf("isolinux.bin: %d bytes is not an ISOLINUX boot file", len(isolinux))
	}
	b := append([]byte(nil), isolinux...)
	binary.LittleEndian.PutUint32(b[8:], 16) // the primary volume descriptor
	binary.LittleEndian.PutUint32(b[12:], sector)
	binary.LittleEndian.PutUint32(b[16:], uint32(len(b)))
	var sum uint32
	for i := 64; i < len(b); i += 4 {
		sum += binary.LittleEndian.Uint32(b[i:])
	}
	binary.LittleEndian.PutUint32(b[20:], sum)
	clear(b[24:64])
	return b, nil
}

// hybridMBR returns sector 0's first 440 bytes for a BIOS USB boot: the
// hybrid MBR code and, after it, the 512-byte sector isolinux.bin starts at.
func hybridMBR(code []byte, isolinuxSector uint32) ([]byte, error) {
	if len(code) != mbrCodeSize {
		return nil, fmt.Errorf("isohdpfx.bin: %d bytes, want %d (ISOLINUX's hybrid MBR code)", len(code), mbrCodeSize)
	}
	b := make([]byte, 440)
	copy(b, code)
	binary.LittleEndian.PutUint64(b[mbrCodeSize:], uint64(isolinuxSector)*(isoSector/512))
	return b, nil
}
