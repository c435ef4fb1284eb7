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

// Every rule names the server: the bootstrap URL for iPXE, the TFTP server
// for each firmware's binary.
func TestRules(t *testing.T) {
	s := Server{"2001:db8::1", "8080"}
	if s.Bootstrap() != "http://[2001:db8::1]:8080/pxe-bootstrap.ipxe" {
		t.Errorf("bootstrap %s", s.Bootstrap())
	}
	d := s.Dnsmasq()
	if strings.Count(d, ",,2001:db8::1\n") != 4 || !strings.Contains(d, "dhcp-boot=tag:ipxe,"+s.Bootstrap()+"\n") {
		t.Errorf("dnsmasq:\n%s", d)
	}
	k := s.Kea()
	if strings.Count(k, `"next-server": "2001:db8::1"`) != 4 || !strings.Contains(k, `"boot-file-name": "`+s.Bootstrap()+`"`) {
		t.Errorf("kea:\n%s", k)
	}
}

// A Secure Boot machine gets shim, never iPXE, and only when named; every
// other x86_64 UEFI machine keeps iPXE.
func TestSecureBootRules(t *testing.T) {
	s := Server{"192.0.2.10", "8080"}
	d := s.Dnsmasq()
	for _, want := range []string{
		"dhcp-boot=tag:efi64,tag:secureboot,shimx64.efi,,192.0.2.10\n",
		"dhcp-boot=tag:!ipxe,tag:efi64,tag:!secureboot,ipxe.efi,,192.0.2.10\n",
		"\n#dhcp-host=",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("dnsmasq lacks %q:\n%s", want, d)
		}
	}
	k := s.Kea()
	sb, efi := strings.Index(k, `"name": "secureboot"`), strings.Index(k, `"name": "efi64"`)
	if sb < 0 || efi < sb || !strings.Contains(k, `not member('secureboot')`) || !strings.Contains(k, `"boot-file-name": "shimx64.efi"`) {
		t.Errorf("kea: the secureboot class must come before efi64, which excludes it:\n%s", k)
	}
}
