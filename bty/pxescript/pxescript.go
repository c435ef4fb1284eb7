// Package pxescript renders the iPXE scripts bty-web serves: the bootstrap
// every machine chains to, and the per-MAC script its boot mode calls for.
//
// Templates are parsed once with missingkey=error and fed maps, so a
// forgotten value fails rendering instead of producing a script with a hole
// in it. Text that comes from operators never reaches a script unfiltered:
// iPXE would expand ${...} in it.
package pxescript

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

var templates = template.Must(template.New("").Option("missingkey=error").Parse(`
{{- define "bootstrap" -}}
#!ipxe
set bty-arch ${buildarch}
iseq ${buildarch} i386 && cpuid --ext 29 && set bty-arch x86_64 ||
chain {{.base}}/pxe/${mac:hexhyp}?arch=${bty-arch}&platform=${platform}
{{end}}

{{- define "local" -}}
#!ipxe
echo bty: {{.mac}}: {{.why}}
iseq ${platform} efi && exit ||
sanboot --no-describe --drive 0x80
{{end}}

{{- define "live" -}}
#!ipxe
echo bty: {{.mac}}: booting the bty live environment ({{.purpose}})
kernel {{.base}}/boot/{{.kernel}}?mac={{.mac}} fetch={{.base}}/boot/{{.squashfs}} {{.console}} bty.server={{.base}} bty.mac={{.mac}}
initrd {{.base}}/boot/{{.initrd}}?mac={{.mac}}
boot
{{end}}
`))

// Netboot names the live trio of a release for one architecture, as
// published and as uploaded to bty-web's /boot, and the trio's sha256
// manifest. images/BUILD.bazel builds files of these names; its test holds
// the two together.
type Netboot struct {
	Kernel, Initrd, Squashfs, Manifest string
	// Console is the kernel's console= settings: the screen, and the
	// architecture's first serial port last, so /dev/console is serial.
	Console string
}

// Files are the trio itself.
func (nb Netboot) Files() []string { return []string{nb.Kernel, nb.Initrd, nb.Squashfs} }

// trios are the name stem and serial console of the trio per
// architecture (by iPXE's ${buildarch} names): PCs have 16550 UARTs
// (ttyS0), arm64 machines PL011s (ttyAMA0).
var trios = map[string]struct{ stem, serial string }{
	"x86_64": {"bty-netboot-pc-x86_64-v", "ttyS0"},
	"arm64":  {"bty-netboot-arm64-v", "ttyAMA0"},
}

// NetbootFor returns the trio's names for version ver and architecture
// arch, or why bty has no live system for arch.
func NetbootFor(ver, arch string) (Netboot, error) {
	t, ok := trios[arch]
	if !ok {
		return Netboot{}, fmt.Errorf("bty has no live system for %s machines (only x86_64 and arm64)", arch)
	}
	base := t.stem + ver
	return Netboot{Kernel: base + ".vmlinuz", Initrd: base + ".initrd", Squashfs: base + ".squashfs", Manifest: base + ".sha256",
		Console: "console=tty0 console=" + t.serial + ",115200"}, nil
}

func render(name string, data map[string]string) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering iPXE script %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// Bootstrap is /pxe-bootstrap.ipxe: chain to the per-MAC script, saying
// which architecture and firmware the machine has. A 32-bit BIOS iPXE
// (undionly.kpxe, whose ${buildarch} is i386) on a CPU with long mode
// (cpuid's extended feature 29) says x86_64: that is the kernel it can run.
func Bootstrap(base string) ([]byte, error) {
	return render("bootstrap", map[string]string{"base": base})
}

// Local boots the local disk (exit on UEFI, sanboot on BIOS), first echoing
// why on the console.
func Local(mac, why string) ([]byte, error) {
	return render("local", map[string]string{"mac": mac, "why": Sanitize(why)})
}

// Live boots the live environment for purpose ("flash", "inventory",
// "interactive"). The kernel and initrd URLs carry ?mac= so bty-web sees the
// machine actually booting it; the squashfs URL carries no query.
func Live(base, mac, purpose string, nb Netboot) ([]byte, error) {
	return render("live", map[string]string{
		"base": base, "mac": mac, "purpose": purpose,
		"kernel": nb.Kernel, "initrd": nb.Initrd, "squashfs": nb.Squashfs, "console": nb.Console,
	})
}

// Sanitize keeps text safe to echo in iPXE: letters, digits, space and a
// little punctuation; anything else (notably $ { }) becomes '?'.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		case strings.ContainsRune(" .,:_/-()'", r):
			return r
		}
		return '?'
	}, s)
}
