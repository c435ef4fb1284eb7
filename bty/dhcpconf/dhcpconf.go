// Package dhcpconf holds the DHCP rules that send machines to bty, as one
// decision table (Rules), and renders it for dnsmasq and ISC Kea: the iPXE
// binary for each firmware (option 93) from the TFTP server, and bty-web's
// bootstrap script to iPXE itself (user class "iPXE"); and, for x86_64
// UEFI machines with Secure Boot on, which cannot run iPXE (it is not
// signed), Debian's signed shim instead, which goes on to GRUB and
// bty-web's GRUB route. DHCP cannot see whether Secure Boot is on, so the
// operator names those machines (tag or class secureboot).
//
// The table is the one place the rules live: the web UI's setup page and
// the user guide show its renderings, the PXE tests run Debian's dnsmasq
// with exactly Dnsmasq's output, and Decide evaluates it for the one test
// DHCP server that must stand in for a stock PXE ROM.
package dhcpconf

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Boot files on the TFTP server, by the names the DHCP rules hand out and
// bty-tftp's root holds (ipxe/BUILD.bazel and grub/BUILD.bazel build them
// under these names).
const (
	FileIPXE       = "ipxe.efi"       // x86_64 UEFI iPXE
	FileIPXEArm64  = "ipxe-arm64.efi" // arm64 UEFI iPXE
	FileUndionly   = "undionly.kpxe"  // BIOS iPXE, through the NIC's PXE ROM
	FileShim       = "shimx64.efi"    // Secure Boot: Debian's signed shim
	FileGRUB       = "grubx64.efi"    // what shim starts: Debian's signed network GRUB
	FileAutoexec   = "autoexec.ipxe"  // the chain script stock UEFI iPXE fetches from beside itself
	FileGRUBConfig = "grub/grub.cfg"  // the chain script Debian's network GRUB reads
)

// Arch is a DHCP client system architecture (option 93, RFC 4578 and
// IANA's "Processor Architecture Types" registry).
type Arch uint16

// The architectures the rules tell apart.
const (
	ArchBIOS     Arch = 0  // x86 BIOS (PXE 2.1 ROMs send 0)
	ArchEFIBC    Arch = 7  // x86_64 UEFI (as EDK2/OVMF sends it)
	ArchEFIx64   Arch = 9  // x86_64 UEFI (as some vendors send it)
	ArchEFIArm64 Arch = 11 // arm64 UEFI
)

// ArchSet is a named set of architectures: a dnsmasq tag set by
// dhcp-match, a Kea test on option 93.
type ArchSet struct {
	Tag    string
	Arches []Arch
}

// The architecture sets of the rules.
var (
	EFI64 = ArchSet{"efi64", []Arch{ArchEFIBC, ArchEFIx64}}
	Arm64 = ArchSet{"arm64", []Arch{ArchEFIArm64}}
	BIOS  = ArchSet{"bios", []Arch{ArchBIOS}}
)

// Cond is a condition a rule puts on one yes-or-no property of a client.
type Cond int

// A rule requires the property (Yes), its absence (No), or ignores it.
const (
	Any Cond = iota
	Yes
	No
)

func (c Cond) holds(v bool) bool { return c == Any || (c == Yes) == v }

// Rule is one row of the decision table: the clients it matches and the
// boot file they get.
type Rule struct {
	Class      string   // the Kea client class (and a name for the row)
	IPXE       Cond     // the request's user class (option 77) is "iPXE"
	Arch       *ArchSet // the client architecture is one of these (nil: any)
	SecureBoot Cond     // the operator named the machine for Secure Boot
	File       string   // the boot file on the TFTP server; "" for bty-web's bootstrap URL
}

// Rules is the decision table. No client matches two rows (a test proves
// it), so the order of the rendered lines does not matter to dnsmasq, and
// Kea's classes cannot both apply.
var Rules = []Rule{
	// iPXE's own request, whatever loaded it: bty-web's bootstrap script.
	{Class: "ipxe", IPXE: Yes},
	// Secure Boot: iPXE is not signed, so shim, then GRUB.
	{Class: "shim", IPXE: No, Arch: &EFI64, SecureBoot: Yes, File: FileShim},
	{Class: "efi64", IPXE: No, Arch: &EFI64, SecureBoot: No, File: FileIPXE},
	{Class: "arm64", IPXE: No, Arch: &Arm64, File: FileIPXEArm64},
	{Class: "bios", IPXE: No, Arch: &BIOS, File: FileUndionly},
}

// Client is what a DHCP server sees of a request that the rules use.
type Client struct {
	IPXE       bool // user class "iPXE"
	Arch       Arch // option 93 (a request without it is BIOS)
	SecureBoot bool // named by the operator
}

// Match reports whether the rule applies to c.
func (r Rule) Match(c Client) bool {
	if !r.IPXE.holds(c.IPXE) || !r.SecureBoot.holds(c.SecureBoot) {
		return false
	}
	if r.Arch == nil {
		return true
	}
	for _, a := range r.Arch.Arches {
		if a == c.Arch {
			return true
		}
	}
	return false
}

// Decide returns the boot file the rules give c (bty-web's bootstrap URL
// for iPXE's own request), or false when no rule applies.
func (s Server) Decide(c Client) (string, bool) {
	for _, r := range Rules {
		if r.Match(c) {
			return s.fileOf(r), true
		}
	}
	return "", false
}

func (s Server) fileOf(r Rule) string {
	if r.File == "" {
		return s.Bootstrap()
	}
	return r.File
}

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

// exampleMAC stands for the operator's Secure Boot machines in the
// rendered rules, commented out (dnsmasq) or to be replaced (Kea).
const exampleMAC = "52:54:00:12:34:56"

// Dnsmasq is the rules as dnsmasq configuration lines: a tag for iPXE's
// user class and for each architecture set, then one dhcp-boot line a
// rule (a TFTP file with this host as the server, or the bootstrap URL).
func (s Server) Dnsmasq() string {
	var b strings.Builder
	b.WriteString("dhcp-userclass=set:ipxe,iPXE\n")
	for _, set := range archSets() {
		for _, a := range set.Arches {
			fmt.Fprintf(&b, "dhcp-match=set:%s,option:client-arch,%d\n", set.Tag, a)
		}
	}
	b.WriteString("# Secure Boot machines, one line each (DHCP cannot tell):\n")
	b.WriteString("#dhcp-host=" + exampleMAC + ",set:secureboot\n")
	for _, r := range Rules {
		var tags []string
		tags = append(tags, dnsmasqTag(r.IPXE, "ipxe")...)
		if r.Arch != nil {
			tags = append(tags, "tag:"+r.Arch.Tag)
		}
		tags = append(tags, dnsmasqTag(r.SecureBoot, "secureboot")...)
		line := strings.Join(tags, ",") + "," + s.fileOf(r)
		if r.File != "" {
			line += ",," + s.Host
		}
		b.WriteString("dhcp-boot=" + line + "\n")
	}
	return b.String()
}

func dnsmasqTag(c Cond, tag string) []string {
	switch c {
	case Yes:
		return []string{"tag:" + tag}
	case No:
		return []string{"tag:!" + tag}
	}
	return nil
}

// Kea is the rules as ISC Kea's client classes (inside Dhcp4): the
// operator's Secure Boot machines first, then one class a rule.
func (s Server) Kea() string {
	var b strings.Builder
	b.WriteString("\"client-classes\": [\n")
	fmt.Fprintf(&b, "  { \"name\": \"secureboot\", \"test\": \"hexstring(pkt4.mac, ':') == '%s'\" },\n", exampleMAC)
	for i, r := range Rules {
		var test []string
		test = append(test, keaCond(r.IPXE, "substring(option[77].hex,0,4) == 'iPXE'")...)
		if r.Arch != nil {
			var or []string
			for _, a := range r.Arch.Arches {
				or = append(or, fmt.Sprintf("option[93].hex == 0x%04x", uint16(a)))
			}
			arch := strings.Join(or, " or ")
			if len(or) > 1 {
				arch = "(" + arch + ")"
			}
			test = append(test, arch)
		}
		test = append(test, keaCond(r.SecureBoot, "member('secureboot')")...)
		fmt.Fprintf(&b, "  { \"name\": %q, \"test\": %q,\n    ", "bty-"+r.Class, strings.Join(test, " and "))
		if r.File != "" {
			fmt.Fprintf(&b, "\"next-server\": %q, ", s.Host)
		}
		fmt.Fprintf(&b, "\"boot-file-name\": %q }", s.fileOf(r))
		if i < len(Rules)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	return b.String()
}

func keaCond(c Cond, expr string) []string {
	switch c {
	case Yes:
		return []string{expr}
	case No:
		return []string{"not (" + expr + ")"}
	}
	return nil
}

// archSets lists the rules' architecture sets once each, in rule order.
func archSets() []ArchSet {
	var out []ArchSet
	seen := map[string]bool{}
	for _, r := range Rules {
		if r.Arch != nil && !seen[r.Arch.Tag] {
			seen[r.Arch.Tag] = true
			out = append(out, *r.Arch)
		}
	}
	return out
}
