package efi

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// image writes a minimal PE32+ file: DOS stub, COFF header, 64-bit optional
// header with subsystem, and one section header.
func image(t *testing.T, machine, subsystem uint16) string {
	return signedImage(t, machine, subsystem, 0)
}

// signedImage is image with a security directory of sigSize bytes.
func signedImage(t *testing.T, machine, subsystem uint16, sigSize uint32) string {
	t.Helper()
	var b bytes.Buffer
	dos := make([]byte, 0x40)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], 0x40)
	b.Write(dos)
	b.WriteString("PE\x00\x00")
	binary.Write(&b, binary.LittleEndian, pe.FileHeader{Machine: machine, NumberOfSections: 1, SizeOfOptionalHeader: 240, Characteristics: 0x22})
	oh := pe.OptionalHeader64{Magic: 0x20b, Subsystem: subsystem, NumberOfRvaAndSizes: 16, SectionAlignment: 4096, FileAlignment: 512}
	oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY] = pe.DataDirectory{VirtualAddress: 1024, Size: sigSize}
	binary.Write(&b, binary.LittleEndian, oh)
	var sh pe.SectionHeader32
	copy(sh.Name[:], ".text")
	binary.Write(&b, binary.LittleEndian, sh)
	p := filepath.Join(t.TempDir(), "x.efi")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	if err := Check(image(t, AMD64, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION), AMD64); err != nil {
		t.Errorf("a valid amd64 EFI application: %v", err)
	}
	if err := Check(image(t, ARM64, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION), ARM64); err != nil {
		t.Errorf("a valid arm64 EFI application: %v", err)
	}
	if err := Check(image(t, AMD64, pe.IMAGE_SUBSYSTEM_WINDOWS_CUI), AMD64); err == nil {
		t.Error("a Windows console program passed as an EFI application")
	}
	if err := Check(image(t, AMD64, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION), ARM64); err == nil {
		t.Error("an amd64 program passed as arm64")
	}
	self, _ := os.Executable()
	if err := Check(self, AMD64); err == nil {
		t.Error("an ELF binary passed")
	}
}

func TestSignatureSize(t *testing.T) {
	for _, want := range []uint32{0, 1496} {
		got, err := SignatureSize(signedImage(t, AMD64, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION, want))
		if err != nil || got != want {
			t.Errorf("SignatureSize = %d, %v; want %d", got, err, want)
		}
	}
	self, _ := os.Executable()
	if _, err := SignatureSize(self); err == nil {
		t.Error("an ELF binary has a signature size")
	}
}
