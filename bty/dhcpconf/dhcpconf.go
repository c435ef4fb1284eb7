// Package dhcpconf writes the DHCP rules that send machines to bty: the
// iPXE binary for each firmware (option 93) from the TFTP server, and
// bty-web's bootstrap script to iPXE itself (user class "iPXE"); and, for
// x86_64 UEFI machines with Secure Boot on, which cannot run iPXE (it is
// not signed), Debian's signed shim instead, which goes on to GRUB and
// bty-web's GRUB route. DHCP cannot see whether Secure Boot is on, so the
// operator names those machines (tag secureboot). The web UI fills the
// rules in with the server's own address, and the user guide's examples
// are checked against them, so the rules are written once.
package dhcpconf

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Server is where machines find bty: host runs bty-tftp and bty-web, which
// listens on port.
type Server struct {
	Host string
	Port string
}

// FromURL takes the server from bty-web's public URL.
func FromURL(base string) (Server, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return Server{}, fmt.Errorf("server URL %q: want http://HOST[:PORT]", base)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443"}[u.Scheme]
		if port == "" {
			port = "80"
		}
	}
	return Server{Host: u.Hostname(), Port: port}, nil
}

// Bootstrap is the URL iPXE is sent to.
func (s Server) Bootstrap() string {
	return "http://" + net.JoinHostPort(s.Host, s.Port) + "/pxe-bootstrap.ipxe"
}

const dnsmasq = `dhcp-userclass=set:ipxe,iPXE
dhcp-match=set:efi64,option:client-arch,7
dhcp-match=set:efi64,option:client-arch,9
dhcp-match=set:arm64,option:client-arch,11
# Secure Boot machines, one line each (DHCP cannot tell):
#dhcp-host=52:54:00:12:34:56,set:secureboot
dhcp-boot=tag:ipxe,{{.Bootstrap}}
dhcp-boot=tag:!ipxe,tag:efi64,tag:!secureboot,ipxe.efi,,{{.Host}}
dhcp-boot=tag:efi64,tag:secureboot,shimx64.efi,,{{.Host}}
dhcp-boot=tag:!ipxe,tag:arm64,ipxe-arm64.efi,,{{.Host}}
dhcp-boot=tag:!ipxe,tag:!efi64,tag:!arm64,undionly.kpxe,,{{.Host}}
`

const kea = `"client-classes": [
  { "name": "ipxe", "test": "substring(option[77].hex,0,4) == 'iPXE'",
    "boot-file-name": "{{.Bootstrap}}" },
  { "name": "secureboot", "test": "(option[93].hex == 0x0007 or option[93].hex == 0x0009) and (hexstring(pkt4.mac, ':') == '52:54:00:12:34:56')",
    "next-server": "{{.Host}}", "boot-file-name": "shimx64.efi" },
  { "name": "efi64", "test": "not member('ipxe') and not member('secureboot') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)",
    "next-server": "{{.Host}}", "boot-file-name": "ipxe.efi" },
  { "name": "arm64", "test": "not member('ipxe') and option[93].hex == 0x000b",
    "next-server": "{{.Host}}", "boot-file-name": "ipxe-arm64.efi" },
  { "name": "bios", "test": "not member('ipxe') and option[93].hex == 0x0000",
    "next-server": "{{.Host}}", "boot-file-name": "undionly.kpxe" }
]
`

// Dnsmasq is the rules as dnsmasq configuration lines.
func (s Server) Dnsmasq() string { return render(dnsmasq, s) }

// Kea is the rules as ISC Kea's client classes (inside Dhcp4).
func (s Server) Kea() string { return render(kea, s) }

// render fills in the rules' two blanks.
func render(rules string, s Server) string {
	return strings.NewReplacer("{{.Bootstrap}}", s.Bootstrap(), "{{.Host}}", s.Host).Replace(rules)
}
