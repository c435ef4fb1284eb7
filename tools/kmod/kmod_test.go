package kmod

import (
	"bytes"
	"strings"
	"testing"
)

// signed appends a module_signature trailer for a sigLen-byte signature
// of type idType to ko.
func signed(ko []byte, sigLen int, idType byte) []byte {
	b := append(bytes.Clone(ko), make([]byte, sigLen)...)
	b = append(b, 0, 0, idType, 0, 0, 0, 0, 0, byte(sigLen>>24), byte(sigLen>>16), byte(sigLen>>8), byte(sigLen))
	return append(b, sigMagic...)
}

func TestSignatureSize(t *testing.T) {
	ko := []byte("\x7fELF module body")
	if n, err := SignatureSize(signed(ko, 700, 2)); err != nil || n != 700 {
		t.Errorf("a signed module: %d, %v", n, err)
	}
	for name, tc := range map[string]struct {
		ko   []byte
		want string
	}{
		"unsigned":         {ko, "no module signature"},
		"not PKCS#7":       {signed(ko, 700, 1), "not PKCS#7"},
		"longer than it":   {signed(ko, 700, 2)[700:], "bytes in a"},
		"empty signature":  {signed(ko, 0, 2), "0 bytes"},
		"only the trailer": {[]byte(sigMagic), "truncated"},
	} {
		if _, err := SignatureSize(tc.ko); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
