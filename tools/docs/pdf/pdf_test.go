package pdf

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bty-lab/bty/tools/docs/book"
)

func guide(t *testing.T) *book.Book {
	long := strings.Repeat("A paragraph long enough to fill lines and pages of the guide. ", 60)
	b, err := book.Load(book.Options{
		Version: "1.2.3",
		Chapters: []book.Source{
			{Path: "guide/01-a.md", Data: []byte("# Alpha\n\n" + long + "\n\n## Part\n\n- one `code`\n- **two** [link](02-b.md#more)\n\n| a | b |\n|---|---|\n| `x` | a long cell that has to wrap in its column because the table is narrow |\n\n![pic](../pictures/p.svg)\n\n![shot](../pictures/s.png)\n\n![two](../pictures/s2.png)\n\n![three](../pictures/s3.png)\n\n![again](../pictures/s.png)\n")},
			{Path: "guide/02-b.md", Data: []byte("# Beta\n\n" + long + "\n\n## More\n\n```sh\ntools/bazel test //... # " + strings.Repeat("x", 150) + "\n```\n")},
		},
		Pictures: []book.Source{{Path: "docs/pictures/p.diagram", Data: []byte("box a 0 0 \"A\"\nbox b 1 0 \"B\"\narrow a b \"x\"\n")}, {Path: "docs/pictures/s.png", Data: book.TestPNG(64, 40)},
			{Path: "docs/pictures/s2.png", Data: book.TestPNG(64, 40)}, {Path: "docs/pictures/s3.png", Data: book.TestPNG(64, 30)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The PDF is the same bytes each time (also with pictures of one size,
// which fpdf would write in a map's order), and has the title page,
// contents with the chapters' pages and the chapters.
func TestRender(t *testing.T) {
	var one bytes.Buffer
	if err := Render(guide(t), &one); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		var again bytes.Buffer
		if err := Render(guide(t), &again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Bytes(), again.Bytes()) {
			t.Fatal("two renderings of the same guide differ")
		}
	}
	if !bytes.HasPrefix(one.Bytes(), []byte("%PDF-")) || !bytes.Contains(one.Bytes(), []byte("/Count ")) {
		t.Errorf("not a PDF with pages: %q", one.Bytes()[:min(40, one.Len())])
	}
	r := &renderer{b: guide(t)}
	if err := r.render(); err != nil {
		t.Fatal(err)
	}
	// Title page 1, contents 2, Alpha from 3, Beta after it.
	if r.pages["01-a#"] != 3 || r.pages["02-b#"] <= 3 || r.pages["02-b#more"] < r.pages["02-b#"] {
		t.Errorf("heading pages: %v", r.pages)
	}
}

func TestFit(t *testing.T) {
	if w := fit([]float64{10, 20}, []float64{5, 5}, 100); w[0] != 10 || w[1] != 20 {
		t.Errorf("natural widths that fit changed: %v", w)
	}
	w := fit([]float64{100, 100}, []float64{10, 30}, 100)
	if sum := w[0] + w[1]; sum < 99.9 || sum > 100.1 || w[0] < 10 || w[1] < 30 {
		t.Errorf("shared widths %v: want at least the least widths, 100 in all", w)
	}
}
