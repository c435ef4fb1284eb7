package liveinit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// secureBootVar is UEFI's SecureBoot variable (EFI global variable GUID)
// as efivarfs names it: 4 bytes of attributes, then 1 when the firmware
// enforces Secure Boot.
const secureBootVar = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

// Firmware says how the machine booted, from sysfs mounted at sys: "BIOS",
// or "UEFI" with whether Secure Boot is on, and whether the kernel is
// locked down (as Debian's kernel is under Secure Boot: only signed
// modules load). It mounts efivarfs and securityfs (sysfs's own mount
// points for them) when they are not mounted yet.
func Firmware(sys string) string {
	if _, err := os.Stat(filepath.Join(sys, "firmware/efi")); err != nil {
		return "BIOS"
	}
	s := "UEFI, Secure Boot " + secureBoot(filepath.Join(sys, "firmware/efi/efivars"))
	if l := lockdown(filepath.Join(sys, "kernel/security")); l != "" {
		s += ", kernel lockdown " + l
	}
	return s
}

func secureBoot(efivars string) string {
	mountOnce("efivarfs", efivars)
	b, err := os.ReadFile(filepath.Join(efivars, secureBootVar))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "unsupported" // firmware without Secure Boot
	case err != nil:
		return fmt.Sprintf("unknown (%v)", err)
	case len(b) < 5:
		return fmt.Sprintf("unknown (%d-byte SecureBoot variable)", len(b))
	case b[4] == 1:
		return "on"
	}
	return "off"
}

// lockdown reads the kernel's lockdown mode: the word in brackets of
// securityfs's lockdown file ("none", "integrity", "confidentiality"), or
// "" when the kernel has no lockdown.
func lockdown(securityfs string) string {
	mountOnce("securityfs", securityfs)
	b, err := os.ReadFile(filepath.Join(securityfs, "lockdown"))
	if err != nil {
		return ""
	}
	_, rest, ok := strings.Cut(string(b), "[")
	mode, _, ok2 := strings.Cut(rest, "]")
	if !ok || !ok2 {
		return ""
	}
	return mode
}

// mountOnce mounts a pseudo filesystem at dir unless something is there.
func mountOnce(fstype, dir string) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return
	}
	unix.Mount(fstype, dir, fstype, 0, "")
}
