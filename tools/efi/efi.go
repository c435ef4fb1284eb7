// Package efi validates UEFI executables: PE32+ files whose machine type
// matches the architecture and whose subsystem is "EFI application", the
// only kind a firmware's network boot will start.
package efi

import (
	"debug/pe"
	"fmt"
)

// Machine types of the architectures bty boots.
const (
	AMD64 = pe.IMAGE_FILE_MACHINE_AMD64
	ARM64 = pe.IMAGE_FILE_MACHINE_ARM64
)

// Check returns why the file at path is not an EFI application for machine,
// or nil.
func Check(path string, machine uint16) error {
	f, oh, err := open64(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("%s: machine type %#x, want %#x", path, f.Machine, machine)
	}
	if oh.Subsystem != pe.IMAGE_SUBSYSTEM_EFI_APPLICATION {
		return fmt.Errorf("%s: subsystem %d, want %d (EFI application)", path, oh.Subsystem, pe.IMAGE_SUBSYSTEM_EFI_APPLICATION)
	}
	if len(f.Sections) == 0 {
		return fmt.Errorf("%s: no sections", path)
	}
	return nil
}

// SignatureSize returns the size of the Authenticode signature the file
// at path carries (PE's security directory), 0 for an unsigned file.
// Secure Boot firmware and shim start only signed files; this says one
// is there, not whom it is from: the firmware checks that.
func SignatureSize(path string) (uint32, error) {
	f, oh, err := open64(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if oh.NumberOfRvaAndSizes <= pe.IMAGE_DIRECTORY_ENTRY_SECURITY {
		return 0, nil
	}
	return oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size, nil
}

// open64 opens a PE32+ (64-bit) file; the caller closes it.
func open64(path string) (*pe.File, *pe.OptionalHeader64, error) {
	f, err := pe.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a PE executable: %w", path, err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not PE32+ (64-bit)", path)
	}
	return f, oh, nil
}
