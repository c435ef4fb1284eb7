package highlight

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct{ lang, line, want string }{
		{"sh", `tools/bazel test //...   # all tests`, `K(tools/bazel)P( test //...   )C(# all tests)`},
		{"sh", `  curl -d password='x' http://h/#frag`, `P(  )K(curl)P( -d password=)S('x')P( http://h/#frag)`},
		{"toml", `[server]`, `K([server])`},
		{"toml", `port = 8080 # the port`, `N(port )P(= 8080 )C(# the port)`},
		{"toml", `src = "https://h/x#y"`, `N(src )P(= )S("https://h/x#y")`},
		{"json", `{ "name": "ipxe", "n": 1 }`, `P({ )N("name")P(: )S("ipxe")P(, )N("n")P(: 1 })`},
		{"", `dhcp-boot=tag:ipxe,x # y`, `P(dhcp-boot=tag:ipxe,x )C(# y)`},
		{"sh", `echo "unterminated`, `K(echo)P( )S("unterminated)`},
	} {
		toks := Line(tc.lang, tc.line)
		var b, joined strings.Builder
		for _, tok := range toks {
			b.WriteString(string("PCSKN"[tok.Kind]) + "(" + tok.Text + ")")
			joined.WriteString(tok.Text)
		}
		if b.String() != tc.want {
			t.Errorf("%s %q:\n got %s\nwant %s", tc.lang, tc.line, b.String(), tc.want)
		}
		if joined.String() != tc.line {
			t.Errorf("%s %q: tokens join to %q", tc.lang, tc.line, joined.String())
		}
	}
}
