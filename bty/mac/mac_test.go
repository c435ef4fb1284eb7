package mac

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Addr{
		"52:54:00:11:22:33": "52:54:00:11:22:33",
		"52-54-00-11-22-33": "52:54:00:11:22:33",
		"52:54:00:AB:cD:eF": "52:54:00:ab:cd:ef",
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "52:54:00:11:22", "52:54:00:11:22:33:44", "52:54-00:11:22:33", "525400112233", "52.54.00.11.22.33", "52:54:00:11:22:3g", "../../etc/pas", "52:54:00:11:22:3 "} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", bad, got)
		}
	}
	if h := Addr("52:54:00:11:22:33").Hyphen(); h != "52-54-00-11-22-33" {
		t.Errorf("Hyphen = %q", h)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("52:54:00:11:22:33")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(a.Hyphen())
		if err != nil || again != a {
			t.Fatalf("canonical %q does not round-trip: %q, %v", a, again, err)
		}
	})
}
