package markers

import (
	"strings"
	"testing"
)

const src = `package x

func f(i *I, p P) {
	fmt.Fprintf(out, "bty-init: entered v%s\n", v)
	p.Marker("bty: write %d%%", 25)
	i.say("squashfs %s mounted", url)
	fmt.Fprintf(out, "image_root: %s\n", root)
	fmt.Fprintf(out, "bty-init: "+format+"\n", args...)
	fmt.Println("not a console line")
}
`

func TestScan(t *testing.T) {
	lines, err := Scan(map[string][]byte{"pkg/x/x.go": []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		if l.Package != "pkg/x" {
			t.Errorf("%q: package %q", l.Text, l.Package)
		}
		got = append(got, l.Text)
	}
	want := "bty-init: entered v%s|bty-init: squashfs %s mounted|bty: write %d%%|image_root: %s"
	if strings.Join(got, "|") != want {
		t.Errorf("lines = %q, want %q", strings.Join(got, "|"), want)
	}
}

// A documented line with placeholders matches the format string that
// prints it, and only that one.
func TestPrinted(t *testing.T) {
	lines, _ := Scan(map[string][]byte{"pkg/x/x.go": []byte(src)})
	for doc, want := range map[string]string{
		"bty: write <n>%":                  "bty: write %d%%",
		"bty-init: squashfs <url> mounted": "bty-init: squashfs %s mounted",
		"bty-init: entered v<ver>":         "bty-init: entered v%s",
		"bty: write <n> percent":           "",
		"bty-init: squashfs mounted":       "",
	} {
		got := Printed(lines, doc)
		switch {
		case want == "" && len(got) != 0:
			t.Errorf("%q matched %v; it is printed by no line", doc, got)
		case want != "" && (len(got) != 1 || got[0].Text != want):
			t.Errorf("%q matched %v, want %q", doc, got, want)
		}
	}
}

func TestParseError(t *testing.T) {
	if _, err := Scan(map[string][]byte{"bad.go": []byte("package")}); err == nil || !strings.Contains(err.Error(), "bad.go") {
		t.Errorf("err = %v, want one naming bad.go", err)
	}
}
