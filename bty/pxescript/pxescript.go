// Package pxescript renders the boot scripts bty-web serves: the iPXE
// bootstrap every machine chains to, and the per-MAC script its boot mode
// calls for, in iPXE's language or, for Secure Boot machines that come
// through shim and Debian's signed GRUB, in GRUB's (Format). One decision,
// two renderings: both say the same thing with the same URLs.
//
// Templates are parsed once with missingkey=error and fed maps, so a
// forgotten value fails rendering instead of producing a script with a hole
// in it. Text that comes from operators never reaches a script unfiltered:
// iPXE would expand ${...} in it.
package pxescript

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
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
kernel {{.base}}/boot/{{.kernel}} fetch={{.base}}/boot/{{.squashfs}} {{.console}} bty.server={{.base}} bty.mac={{.mac}}{{with .token}} bty.token={{.}}{{end}}
initrd {{.base}}/boot/{{.initrd}}
boot
{{end}}

{{- define "grub-local" -}}
echo '{{.echo}}'
exit 1
{{end}}

{{- define "grub-live" -}}
echo '{{.echo}}'
linux '{{.dev}}/boot/{{.kernel}}' fetch={{.base}}/boot/{{.squashfs}} {{.console}} bty.server={{.base}} bty.mac={{.mac}}{{with .token}} bty.token={{.}}{{end}}
initrd '{{.dev}}/boot/{{.initrd}}'
boot
{{end}}
`))

// Format is one language of per-MAC scripts: the live environment for a
// purpose, or the local disk with the reason.
type Format struct {
	Name  string
	Live  func(base, mac, purpose, token string, nb Netboot) ([]byte, error)
	Local func(mac, why string) ([]byte, error)
}

// The two formats: iPXE's for machines that run iPXE, GRUB's for Secure
// Boot machines (shim and Debian's signed GRUB: iPXE is not signed).
var (
	IPXE = Format{Name: "iPXE", Live: Live, Local: Local}
	GRUB = Format{Name: "GRUB", Live: GRUBLive, Local: GRUBLocal}
)

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

// Arches lists the architectures bty builds a live environment for, sorted.
func Arches() []string {
	return slices.Sorted(maps.Keys(trios))
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
		return nil, fmt.Errorf("rendering boot script %s: %w", name, err)
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
// "interactive"), handing it the live boot's token (bty.token=, "" for
// none) that its reports to bty-web must carry. The files' URLs carry no
// query: every machine fetches the same bytes.
func Live(base, mac, purpose, token string, nb Netboot) ([]byte, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	return render("live", map[string]string{
		"base": base, "mac": mac, "purpose": purpose, "token": token,
		"kernel": nb.Kernel, "initrd": nb.Initrd, "squashfs": nb.Squashfs, "console": nb.Console,
	})
}

var tokenWord = regexp.MustCompile(`^[0-9a-f]{0,128}$`)

// checkToken refuses a token that is not hex: it is pasted into scripts.
func checkToken(token string) error {
	if !tokenWord.MatchString(token) {
		return fmt.Errorf("a boot token must be lower-case hex, at most 128 digits")
	}
	return nil
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

// GRUBLocal is Local for GRUB: echo why, then exit, which hands the
// machine back to the firmware's next boot entry (its disk), as iPXE's
// exit does.
func GRUBLocal(mac, why string) ([]byte, error) {
	return render("grub-local", map[string]string{"echo": grubText("bty: " + mac + ": " + Sanitize(why))})
}

// GRUBLive is Live for GRUB: the same kernel, initrd and command line,
// fetched by GRUB's HTTP client; shim checks the kernel's signature.
func GRUBLive(base, mac, purpose, token string, nb Netboot) ([]byte, error) {
	dev, err := grubDevice(base)
	if err != nil {
		return nil, err
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	return render("grub-live", map[string]string{
		"echo": grubText("bty: " + mac + ": booting the bty live environment (" + purpose + ")"),
		"base": base, "dev": dev, "mac": mac, "token": token,
		"kernel": nb.Kernel, "initrd": nb.Initrd, "squashfs": nb.Squashfs, "console": nb.Console,
	})
}

// grubDevice is GRUB's name for bty-web's HTTP root: (http,host:port).
func grubDevice(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return "", fmt.Errorf("GRUB fetches over plain http://host[:port] only, not %q", base)
	}
	return "(http," + u.Host + ")", nil
}

// grubText keeps text safe inside GRUB's single quotes, where nothing is
// expanded and only a quote would end the string.
func grubText(s string) string { return strings.ReplaceAll(Sanitize(s), "'", "?") }
