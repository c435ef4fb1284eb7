// Package grub_test checks the Secure Boot network chain's binaries:
// Debian's signed shim and GRUB. Our grub.cfg is proven by running it:
// //e2e/pxe's Secure Boot chain boots through it (with bty-web on another
// port than 8080), and //bty/tftp checks the copy bty-tftp serves names
// bty-web.
package grub_test

import (
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
