package dhcpconf

import (
	"strings"
	"testing"
)

func TestFromURL(t *testing.T) {
	for in, want := range map[string]Server{
		"http://192.0.2.10:8080":    {"192.0.2.10", "8080"},
		"http://bty.example.org/":   {"bty.example.org", "80"},
		"https://bty.example.org":   {"bty.example.org", "443"},
		"http://[2001:db8::1]:8080": {"2001:db8::1", "8080"},
	} {
		got, err := FromURL(in)
		if err != nil || got != want {
			t.Errorf("FromURL(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "192.0.2.10", "::"} {
		if _, err := FromURL(bad); err == nil {
			t.Errorf("FromURL(%q) accepted", bad)
		}
	}
}

// clients is every kind of request the rules can see: each architecture
// bty knows and one it does not, with and without iPXE's user class and
// the operator's Secure Boot tag.
func clients() []Client {
	var out []Client
	for _, a := range []Arch{ArchBIOS, ArchEFIBC, ArchEFIx64, ArchEFIArm64, 6} {
		for _, ipxe := range []bool{false, true} {
			for _, sb := range []bool{false, true} {
				out = append(out, Client{IPXE: ipxe, Arch: a, SecureBoot: sb})
			}
		}
	}
	return out
}

// No client matches two rules: dnsmasq's dhcp-boot lines and Kea's classes
// then need no order to mean the table.
func TestRulesExclusive(t *testing.T) {
	for _, c := range clients() {
		var hit []string
		for _, r := range Rules {
			if r.Match(c) {
				hit = append(hit, r.Class)
			}
		}
		if len(hit) > 1 {
			t.Errorf("%+v matches rules %q", c, hit)
		}
	}
}

// What each firmware gets: its iPXE, shim when named for Secure Boot, and
// iPXE itself the bootstrap URL.
func TestDecide(t *testing.T) {
	s := Server{"192.0.2.10", "8081"}
	for _, c := range []struct {
		c    Client
		want string
	}{
		{Client{Arch: ArchBIOS}, FileUndionly},
		{Client{Arch: ArchEFIBC}, FileIPXE},
		{Client{Arch: ArchEFIx64}, FileIPXE},
		{Client{Arch: ArchEFIBC, SecureBoot: true}, FileShim},
		{Client{Arch: ArchEFIArm64}, FileIPXEArm64},
		{Client{Arch: ArchEFIBC, IPXE: true}, "http://192.0.2.10:8081/pxe-bootstrap.ipxe"},
		{Client{Arch: ArchBIOS, IPXE: true}, "http://192.0.2.10:8081/pxe-bootstrap.ipxe"},
	} {
		if got, ok := s.Decide(c.c); !ok || got != c.want {
			t.Errorf("Decide(%+v) = %q, %v; want %q", c.c, got, ok, c.want)
		}
	}
	if got, ok := s.Decide(Client{Arch: 6}); ok {
		t.Errorf("an x86 32-bit UEFI machine (arch 6), which bty has no iPXE for, got %q", got)
	}
}

// Every rule is rendered with its own boot file and this server: a
// dhcp-boot line and a Kea class each, and every architecture's match.
func TestRender(t *testing.T) {
	s := Server{"2001:db8::1", "8080"}
	d, k := s.Dnsmasq(), s.Kea()
	if got := strings.Count(d, "\ndhcp-boot="); got != len(Rules) {
		t.Errorf("dnsmasq has %d dhcp-boot lines for %d rules:\n%s", got, len(Rules), d)
	}
	for _, want := range []string{
		"dhcp-boot=tag:ipxe," + s.Bootstrap() + "\n",
		"dhcp-boot=tag:!ipxe,tag:efi64,tag:secureboot," + FileShim + ",,2001:db8::1\n",
		"dhcp-boot=tag:!ipxe,tag:efi64,tag:!secureboot," + FileIPXE + ",,2001:db8::1\n",
		"dhcp-boot=tag:!ipxe,tag:arm64," + FileIPXEArm64 + ",,2001:db8::1\n",
		"dhcp-boot=tag:!ipxe,tag:bios," + FileUndionly + ",,2001:db8::1\n",
		"dhcp-match=set:efi64,option:client-arch,7\n",
		"dhcp-match=set:efi64,option:client-arch,9\n",
		"dhcp-match=set:arm64,option:client-arch,11\n",
		"dhcp-match=set:bios,option:client-arch,0\n",
		"\n#dhcp-host=",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("dnsmasq lacks %q:\n%s", want, d)
		}
	}
	if got := strings.Count(k, `"next-server": "2001:db8::1"`); got != len(Rules)-1 {
		t.Errorf("kea names the TFTP server %d times; want %d:\n%s", got, len(Rules)-1, k)
	}
	for _, want := range []string{
		`"boot-file-name": "` + s.Bootstrap() + `"`,
		`"test": "not (substring(option[77].hex,0,4) == 'iPXE') and (option[93].hex == 0x0007 or option[93].hex == 0x0009) and member('secureboot')"`,
		`"test": "not (substring(option[77].hex,0,4) == 'iPXE') and option[93].hex == 0x000b"`,
	} {
		if !strings.Contains(k, want) {
			t.Errorf("kea lacks %s:\n%s", want, k)
		}
	}
	// The operator's Secure Boot class comes before the rules that use it.
	if sb, shim := strings.Index(k, `"name": "secureboot"`), strings.Index(k, `"name": "bty-shim"`); sb < 0 || shim < sb {
		t.Errorf("kea: the secureboot class must come before the rules that test it:\n%s", k)
	}
}
