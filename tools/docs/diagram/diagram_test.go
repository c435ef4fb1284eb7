package diagram

import (
	"encoding/xml"
	"strings"
	"testing"
)

const pic = `# two boxes
box a 0 0 "First" "sub"
box b 1 0 "Second & more"
arrow a b "goes"
arrow b a "back"
`

func TestParseAndSVG(t *testing.T) {
	d, err := Parse("p.diagram", strings.NewReader(pic))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Boxes) != 2 || len(d.Arrows) != 2 || d.Boxes[0].Lines[1] != "sub" {
		t.Fatalf("parsed %+v", d)
	}
	w, h := d.Size()
	if w != CellW+BoxW+2*Margin || h != BoxH+2*Margin {
		t.Errorf("size %v x %v", w, h)
	}
	svg := d.SVG("p.svg")
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, svg)
	}
	for _, want := range []string{"<title>p.svg</title>", "Second &amp; more", ">goes<", ">back<"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Count(string(svg), "<rect") != 2 || strings.Count(string(svg), "<polygon") != 2 {
		t.Errorf("want 2 boxes and 2 arrowheads:\n%s", svg)
	}
	if string(d.SVG("p.svg")) != string(svg) {
		t.Error("two renderings differ")
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		`box a x 0 "A"`:                    "p.diagram:1: box a: column and row",
		"box a 0 0 \"A\"\nbox a 1 0 \"B\"": "p.diagram:2: box a is defined twice",
		`box a 0 0 "A`:                     "unterminated string",
		"box a 0 0 \"A\"\narrow a b \"x\"": "arrow a -> b: no box b",
		"circle a":                         `p.diagram:1: want 'box`,
		"# nothing":                        "no boxes",
	} {
		if _, err := Parse("p.diagram", strings.NewReader(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}
