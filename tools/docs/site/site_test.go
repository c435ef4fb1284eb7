package site

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bty-lab/bty/tools/docs/book"
)

func guide(t *testing.T) *book.Book {
	b, err := book.Load(book.Options{
		Version: "1.2.3",
		Chapters: []book.Source{
			{Path: "guide/01-a.md", Data: []byte("# A\n\n## Part\n\n[next](02-b.md#more) ![pic](../pictures/p.svg) ![shot](../pictures/s.png)\n\n```toml\nport = 8080 # the port\n```\n")},
			{Path: "guide/02-b.md", Data: []byte("# B & C\n\n## More\n\n[back](01-a.md)\n")},
		},
		Pictures: []book.Source{{Path: "docs/pictures/p.diagram", Data: []byte("box a 0 0 \"A\"\n")}, {Path: "docs/pictures/s.png", Data: book.TestPNG(64, 40)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFiles(t *testing.T) {
	files, err := Files(guide(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "01-a.html", "02-b.html", "style.css", "pictures/p.svg", "pictures/s.png"} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	a := string(files["01-a.html"])
	for _, want := range []string{`href="02-b.html#more"`, `src="pictures/p.svg"`, `src="pictures/s.png"`, `<span class="n">port </span>= 8080 <span class="c"># the port</span>`, `<li class="current"><a href="01-a.html">A</a>`, `href="02-b.html">B &amp; C &rarr;`} {
		if !strings.Contains(a, want) {
			t.Errorf("01-a.html lacks %s:\n%s", want, a)
		}
	}
	if idx := string(files["index.html"]); !strings.Contains(idx, `<a href="02-b.html#more">More</a>`) || !strings.Contains(idx, "Version 1.2.3") {
		t.Errorf("index.html:\n%s", idx)
	}
}

func TestTarballReproducible(t *testing.T) {
	files, err := Files(guide(t))
	if err != nil {
		t.Fatal(err)
	}
	var one, two bytes.Buffer
	if err := Tarball(&one, "site", files); err != nil {
		t.Fatal(err)
	}
	files2, _ := Files(guide(t))
	Tarball(&two, "site", files2)
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Error("two tarballs of the same guide differ")
	}
}
