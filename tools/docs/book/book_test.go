package book

import (
	"strings"
	"testing"

	"github.com/bty-lab/bty/tools/docs/markers"
)

func src(path, data string) Source { return Source{Path: path, Data: []byte(data)} }

func opts(chapters ...Source) Options {
	return Options{
		Version:  "1.2.3",
		Registry: "registry.example/ns",
		Chapters: chapters,
		Pictures: []Source{src("docs/pictures/chain.diagram", "box a 0 0 \"A\"\n")},
		Lines:    []markers.Line{{Text: "bty: write %d%%", Package: "bty/progress"}, {Text: "bty: a|b", Package: "bty/x"}},
	}
}

func TestLoad(t *testing.T) {
	b, err := Load(opts(
		src("guide/01-one.md", "# One\n\nVersion @VERSION@ from @REGISTRY@/bty-web.\n\n## Setup here\n\n![chain](../pictures/chain.svg)\n"),
		src("guide/02-two.md", "# Two\n\nSee [setup](01-one.md#setup-here), [top](01-one.md), [here](#lines) and [out](https://example.org/x.md).\n\n## Lines\n\n<!-- bty-docs: console-lines -->\n"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if errs := b.Check(); len(errs) > 0 {
		t.Fatalf("a correct guide has errors: %v", errs)
	}
	one, two := b.Chapters[0], b.Chapters[1]
	if one.Title != "One" || one.Name != "01-one" || one.Headings[1].ID != "setup-here" {
		t.Errorf("chapter one: %+v", one.Headings)
	}
	if !strings.Contains(string(one.Source), "Version 1.2.3 from registry.example/ns/bty-web") {
		t.Errorf("placeholders not filled in:\n%s", one.Source)
	}
	tabs := two.Tables()
	if len(tabs) != 1 || tabs[0].Section != "Lines" || tabs[0].Header[0] != "line" || len(tabs[0].Rows) != 2 || tabs[0].Rows[0][0] != "bty: write %d%%" || tabs[0].Rows[1][0] != "bty: a|b" {
		t.Errorf("generated table: %+v", tabs)
	}
}

// Every broken link, anchor and picture is found and named.
func TestCheck(t *testing.T) {
	b, err := Load(opts(src("guide/01-one.md", "# One\n\n[a](02-none.md) [b](01-one.md#nowhere) [c](#gone)\n\n![p](../pictures/missing.svg) ![q](pictures/chain.svg)\n")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range b.Check() {
		got = append(got, e.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"guide/01-one.md links to 02-none.md: no chapter 02-none.md",
		"guide/01-one.md links to 01-one.md#nowhere: guide/01-one.md has no heading with anchor #nowhere",
		"links to #gone",
		"shows ../pictures/missing.svg: there is no docs/pictures/missing.diagram",
		"shows pictures/chain.svg: pictures live in docs/pictures",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d errors, want 5:\n%s", len(got), all)
	}
}

func TestLoadErrors(t *testing.T) {
	for data, want := range map[string]string{
		"no title\n":                        "a chapter starts with its title",
		"# T\n\n@NOPE@\n":                   "unknown placeholder @NOPE@",
		"# T\n\n<!-- bty-docs: other -->\n": `unknown generated part "other"`,
	} {
		if _, err := Load(opts(src("guide/x.md", data))); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "guide/x.md") {
			t.Errorf("%q: err = %v, want %q naming the file", data, err, want)
		}
	}
}

// A PNG picture is known by its own name and size; a broken one is refused
// naming it, and a missing one is named as the .png the chapter wants.
func TestPNGPictures(t *testing.T) {
	o := opts(src("guide/01-one.md", "# One\n\n![s](../pictures/shot.png) ![m](../pictures/gone.png)\n"))
	o.Pictures = append(o.Pictures, src("docs/pictures/shot.png", string(TestPNG(30, 20))))
	b, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Pictures["shot.png"]; p == nil || p.Width != 30 || p.Height != 20 || p.Diagram != nil {
		t.Errorf("shot.png: %+v", p)
	}
	errs := b.Check()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "there is no docs/pictures/gone.png") {
		t.Errorf("check: %v", errs)
	}
	o.Pictures = append(o.Pictures, src("docs/pictures/bad.png", "not a png"))
	if _, err := Load(o); err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("a broken PNG: %v", err)
	}
}
