package liveinit

import (
	"os"
	"path/filepath"
	"testing"
)

// sysfs builds the files Firmware reads under a temporary directory (the
// mounts it tries fail there as an unprivileged test or find files).
func sysfs(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if b != nil {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestFirmware(t *testing.T) {
	sb := "firmware/efi/efivars/" + secureBootVar
	for want, files := range map[string]map[string][]byte{
		"BIOS": {"kernel/x": nil},
		"UEFI, Secure Boot on, kernel lockdown integrity": {sb: {6, 0, 0, 0, 1},
			"kernel/security/lockdown": []byte("none [integrity] confidentiality\n")},
		"UEFI, Secure Boot off, kernel lockdown none":            {sb: {6, 0, 0, 0, 0}, "kernel/security/lockdown": []byte("[none] integrity confidentiality\n")},
		"UEFI, Secure Boot unsupported":                          {"firmware/efi/efivars/other": []byte{1}},
		"UEFI, Secure Boot unknown (3-byte SecureBoot variable)": {sb: {6, 0, 0}},
	} {
		if got := Firmware(sysfs(t, files)); got != want {
			t.Errorf("Firmware = %q, want %q", got, want)
		}
	}
}
