package layers

import "testing"

// The seams of docs/design.md: what each package may not import, and that
// what it may is let through.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		pkg, imp string
		refused  bool
	}{
		{bty + "bty/lab", "net/http", true},
		{bty + "bty/lab", "net/http/httptest", true},
		{bty + "bty/lab", bty + "bty/web", true},
		{bty + "bty/lab", bty + "bty/config", true},
		{bty + "bty/lab", bty + "bty/state", false},
		{bty + "bty/lab", "net", false},
		{bty + "bty/lab_test", "net/http", true},
		{bty + "bty/state", bty + "bty/lab", true},
		{bty + "bty/state", bty + "bty/provision", false},
		{bty + "bty/api", bty + "bty/catalog", false},
		{bty + "bty/api", bty + "bty/state", true},
		{bty + "bty/dhcpconf", bty + "bty/mac", true},
		{bty + "bty/dhcpconf", "net/url", false},
		{bty + "bty/tftp", bty + "bty/dhcpconf", false},
		{bty + "bty/tftp", bty + "bty/web", true},
		{bty + "bty/web", bty + "bty/lab", false},
		{bty + "bty/webx", "net/http", false},
	} {
		if got := Check(c.pkg, c.imp) != ""; got != c.refused {
			t.Errorf("Check(%s, %s) refused = %v, want %v", c.pkg, c.imp, got, c.refused)
		}
	}
}
