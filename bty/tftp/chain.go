package tftp

import (
	"bytes"
	"fmt"
	"net"
	"regexp"

	"github.com/bty-lab/bty/bty/dhcpconf"
)

// The chain scripts (autoexec.ipxe for iPXE, grub/grub.cfg for GRUB) are
// the one static step between the firmware and bty-web. As shipped they
// find bty-web at DHCP's next-server on port 8080, and each says so in one
// assignment line. Told bty-web's address (Options.Web), the server sends
// these two files with that line naming it instead: a bty-web on another
// address or port needs no edited files, and the release's scripts stay
// the ones every other TFTP server can serve.
var chainLines = map[string]struct {
	line   *regexp.Regexp
	format string
}{
	dhcpconf.FileAutoexec:   {regexp.MustCompile(`(?m)^set bty-web .*$`), "set bty-web %s"},
	dhcpconf.FileGRUBConfig: {regexp.MustCompile(`(?m)^set bty_web=.*$`), `set bty_web="%s"`},
}

// webHost is what may stand for bty-web's host in a chain script: a DNS
// name or an IPv4 address (an IPv6 address is checked by net.ParseIP).
// Nothing else reaches the scripts, so no value can break out of the line.
var webHost = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)

// ParseWeb checks bty-web's URL (http://HOST:PORT, as machines reach it)
// and returns the HOST:PORT the chain scripts name.
func ParseWeb(u string) (string, error) {
	srv, err := dhcpconf.FromURL(u)
	if err != nil {
		return "", fmt.Errorf("bty-web URL: %w", err)
	}
	if ip := net.ParseIP(srv.Host); ip == nil && !webHost.MatchString(srv.Host) {
		return "", fmt.Errorf("bty-web URL %q: the host must be a DNS name or an IP address", u)
	}
	return net.JoinHostPort(srv.Host, srv.Port), nil
}

// Retarget returns the chain script name with its bty-web line naming web
// (HOST:PORT, from ParseWeb). Other files come back unchanged; a chain
// script without exactly one such line is an error (it is not bty's).
func Retarget(name string, script []byte, web string) ([]byte, error) {
	c, ok := chainLines[name]
	if !ok {
		return script, nil
	}
	if n := len(c.line.FindAllIndex(script, -1)); n != 1 {
		return nil, fmt.Errorf("%s has %d lines setting bty-web's address; want 1 (is it bty's chain script?)", name, n)
	}
	line := []byte(fmt.Sprintf(c.format, web))
	return c.line.ReplaceAllFunc(script, func([]byte) []byte { return bytes.Clone(line) }), nil
}
