// Package grub_test checks the Secure Boot network chain's files: Debian's
// signed shim and GRUB, and our grub.cfg, which must ask bty-web's GRUB
// route for the decision.
package grub_test

import (
	"os"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/efi"
)

// TestSignedBinaries: both run before the kernel with Secure Boot on, so
// both must be signed amd64 EFI applications (the firmware checks shim's
// signer, shim GRUB's; //e2e/pxe boots them with Secure Boot on).
func TestSignedBinaries(t *testing.T) {
	for _, env := range []string{"BTY_SHIM", "BTY_GRUB"} {
		path := testenv.Runfile(t, env, "//grub:grub_test")
		if err := efi.Check(path, efi.AMD64); err != nil {
			t.Error(err)
		}
		if n, err := efi.SignatureSize(path); err != nil || n == 0 {
			t.Errorf("%s: signature of %d bytes (%v)", path, n, err)
		}
	}
}

// TestConfigAsksBtyWeb: grub.cfg loads bty-web's GRUB route for the
// machine's MAC, saying GRUB's architecture and platform as iPXE's
// bootstrap does, and falls through to the next boot device otherwise.
func TestConfigAsksBtyWeb(t *testing.T) {
	b, err := os.ReadFile("grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{
		"\n" + `set bty_web="${net_default_server}:8080"` + "\n",
		`configfile "(http,${bty_web})/pxe/${net_default_mac}/grub?arch=${grub_cpu}&platform=${grub_platform}"`,
		"\nexit 1\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q", want)
		}
	}
}
