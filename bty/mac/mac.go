// Package mac parses the MAC addresses machines are known by. bty-web
// accepts 52:54:00:11:22:33 and 52-54-00-11-22-33 in any case, and stores
// and prints the lower-case colon form.
package mac

import (
	"fmt"
	"strings"
)

// Addr is a 48-bit MAC address in canonical form ("52:54:00:11:22:33").
type Addr string

// Parse accepts six hex pairs separated by all colons or all hyphens.
func Parse(s string) (Addr, error) {
	if len(s) != 17 {
		return "", fmt.Errorf("MAC %q: want six hex pairs like 52:54:00:11:22:33", s)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return "", fmt.Errorf("MAC %q: separate the pairs with ':' or '-'", s)
	}
	var b strings.Builder
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != sep {
				return "", fmt.Errorf("MAC %q: mixed or misplaced separators", s)
			}
			b.WriteByte(':')
			continue
		}
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", fmt.Errorf("MAC %q: %q is not a hex digit", s, c)
		}
		b.WriteByte(c)
	}
	return Addr(b.String()), nil
}

// String returns the canonical form.
func (a Addr) String() string { return string(a) }

// Hyphen returns the form iPXE's ${mac:hexhyp} produces: 52-54-00-11-22-33.
func (a Addr) Hyphen() string { return strings.ReplaceAll(string(a), ":", "-") }
