package version

import (
	"testing"

	"github.com/bty-lab/bty"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"1.4.0\n", "1.4.0", true},
		{"  0.1.0  ", "0.1.0", true},
		{"2.0.0-rc.1", "2.0.0-rc.1", true},
		{"", "", false},
		{"1.4", "", false},
		{"v1.4.0", "", false},
		{"01.4.0", "", false},
		{"1.4.0\n1.5.0", "", false},
		{"1.4.0 beta", "", false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// The committed VERSION file must be valid, and String must report it.
func TestVersionFileIsValid(t *testing.T) {
	v, err := Parse(bty.VersionFile)
	if err != nil {
		t.Fatalf("VERSION file: %v", err)
	}
	if got := String(); got != v {
		t.Errorf("String() = %q, want %q from VERSION", got, v)
	}
}

func TestOverride(t *testing.T) {
	old := override
	t.Cleanup(func() { override = old })
	override = "9.9.9"
	if got := String(); got != "9.9.9" {
		t.Errorf("String() with override = %q", got)
	}
}
