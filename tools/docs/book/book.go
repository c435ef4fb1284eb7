// Package book loads the guide: its Markdown chapters in order, with the
// release's facts filled in and the generated parts expanded, parsed once
// for both renderings (HTML and PDF), and checked: every internal link,
// anchor and picture must resolve.
package book

import (
	"bytes"
	"fmt"
	"image/png"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"

	"github.com/bty-lab/bty/tools/docs/diagram"
	"github.com/bty-lab/bty/tools/docs/markers"
)

// Source is one input file: its path (for messages and links) and bytes.
type Source struct {
	Path string
	Data []byte
}

// Options are the guide's inputs.
type Options struct {
	Version  string
	Registry string   // the container registry and namespace, from release/config.toml
	Chapters []Source // Markdown, in reading order
	Pictures []Source // *.diagram (drawn) and *.png (screenshots)
	// Lines are the console lines the code prints, for the generated list.
	Lines []markers.Line
}

// Heading is a chapter heading with its anchor.
type Heading struct {
	Level int
	Text  string
	ID    string
}

// Chapter is one parsed Markdown file.
type Chapter struct {
	Path     string // as given, e.g. docs/guide/03-pxe.md
	Name     string // file name without .md, e.g. 03-pxe
	Title    string
	Source   []byte // after substitutions
	Doc      ast.Node
	Headings []Heading
}

// Picture is a diagram, under the name the chapters use for its SVG, or a
// PNG (a screenshot) under its own name.
type Picture struct {
	Name    string // e.g. pxe-chain.svg, ui-machines.png
	Diagram *diagram.Diagram
	PNG     []byte
	// Width and Height are a PNG's size in pixels.
	Width, Height int
}

// Book is the loaded guide.
type Book struct {
	Title    string
	Version  string
	Chapters []*Chapter
	Pictures map[string]*Picture
}

// Markdown is the parser both renderings use: GitHub's tables and
// strikethrough, heading anchors as GitHub makes them.
func Markdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	)
}

var (
	placeholder = regexp.MustCompile(`@[A-Z_]+@`)
	directive   = regexp.MustCompile(`(?m)^<!-- bty-docs: ([a-z-]+) -->$`)
)

// Load reads and parses the guide.
func Load(o Options) (*Book, error) {
	b := &Book{Title: "bty user guide", Version: o.Version, Pictures: map[string]*Picture{}}
	for _, p := range o.Pictures {
		if path.Ext(p.Path) == ".png" {
			cfg, err := png.DecodeConfig(bytes.NewReader(p.Data))
			if err != nil {
				return nil, fmt.Errorf("picture %s: %w", p.Path, err)
			}
			name := path.Base(p.Path)
			b.Pictures[name] = &Picture{Name: name, PNG: p.Data, Width: cfg.Width, Height: cfg.Height}
			continue
		}
		d, err := diagram.Parse(p.Path, bytes.NewReader(p.Data))
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(path.Base(p.Path), ".diagram") + ".svg"
		b.Pictures[name] = &Picture{Name: name, Diagram: d}
	}
	md := Markdown()
	for _, src := range o.Chapters {
		data, err := expand(src, o)
		if err != nil {
			return nil, err
		}
		ch := &Chapter{Path: src.Path, Name: strings.TrimSuffix(path.Base(src.Path), ".md"), Source: data}
		ch.Doc = md.Parser().Parse(text.NewReader(data))
		ast.Walk(ch.Doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if h, ok := n.(*ast.Heading); ok && entering {
				id, _ := h.AttributeString("id")
				ids, _ := id.([]byte)
				ch.Headings = append(ch.Headings, Heading{Level: h.Level, Text: PlainText(h, data), ID: string(ids)})
			}
			return ast.WalkContinue, nil
		})
		if len(ch.Headings) == 0 || ch.Headings[0].Level != 1 || ch.Doc.FirstChild().Kind() != ast.KindHeading {
			return nil, fmt.Errorf("%s: a chapter starts with its title, a level-1 heading (# Title)", src.Path)
		}
		ch.Title = ch.Headings[0].Text
		b.Chapters = append(b.Chapters, ch)
	}
	if len(b.Chapters) == 0 {
		return nil, fmt.Errorf("the guide has no chapters")
	}
	return b, nil
}

// expand fills in @VERSION@ and @REGISTRY@ and the generated parts.
func expand(src Source, o Options) ([]byte, error) {
	var bad error
	data := placeholder.ReplaceAllFunc(src.Data, func(m []byte) []byte {
		switch string(m) {
		case "@VERSION@":
			return []byte(o.Version)
		case "@REGISTRY@":
			return []byte(o.Registry)
		}
		bad = fmt.Errorf("%s: unknown placeholder %s (known: @VERSION@, @REGISTRY@)", src.Path, m)
		return m
	})
	data = directive.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(directive.FindSubmatch(m)[1])
		if name != "console-lines" {
			bad = fmt.Errorf("%s: unknown generated part %q (known: console-lines)", src.Path, name)
			return m
		}
		return consoleTable(o.Lines)
	})
	return data, bad
}

// consoleTable is the generated list of every console line.
func consoleTable(lines []markers.Line) []byte {
	var b bytes.Buffer
	b.WriteString("| line | printed by |\n|---|---|\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", strings.ReplaceAll(l.Text, "|", `\|`), l.Package)
	}
	return b.Bytes()
}

// PlainText is the text of n and its children, without markup.
func PlainText(n ast.Node, source []byte) string {
	var b strings.Builder
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch t := c.(type) {
		case *ast.Text:
			b.Write(t.Segment.Value(source))
			if t.SoftLineBreak() || t.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(t.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// Target is where an internal link points: a chapter and an anchor in it
// ("" for its top).
type Target struct {
	Chapter *Chapter
	Anchor  string
}

// External says whether a link leaves the guide.
func External(dest string) bool {
	return strings.Contains(dest, "://") || strings.HasPrefix(dest, "mailto:")
}

// Resolve finds an internal link's target from chapter from.
func (b *Book) Resolve(from *Chapter, dest string) (Target, error) {
	file, anchor, _ := strings.Cut(dest, "#")
	ch := from
	if file != "" {
		ch = nil
		for _, c := range b.Chapters {
			if c.Name+".md" == file {
				ch = c
			}
		}
		if ch == nil {
			return Target{}, fmt.Errorf("%s links to %s: no chapter %s", from.Path, dest, file)
		}
	}
	if anchor != "" && !slices.ContainsFunc(ch.Headings, func(h Heading) bool { return h.ID == anchor }) {
		return Target{}, fmt.Errorf("%s links to %s: %s has no heading with anchor #%s", from.Path, dest, ch.Path, anchor)
	}
	return Target{Chapter: ch, Anchor: anchor}, nil
}

// Picture finds an image's picture: chapters refer to ../pictures/NAME.svg
// (drawn from NAME.diagram) or ../pictures/NAME.png.
func (b *Book) Picture(from *Chapter, dest string) (*Picture, error) {
	if path.Dir(dest) != "../pictures" {
		return nil, fmt.Errorf("%s shows %s: pictures live in docs/pictures (../pictures/NAME.svg)", from.Path, dest)
	}
	p, ok := b.Pictures[path.Base(dest)]
	if !ok {
		want := strings.TrimSuffix(path.Base(dest), ".svg") + ".diagram"
		if path.Ext(dest) == ".png" {
			want = path.Base(dest)
		}
		return nil, fmt.Errorf("%s shows %s: there is no docs/pictures/%s", from.Path, dest, want)
	}
	return p, nil
}

// Check returns every broken internal link, anchor and picture.
func (b *Book) Check() []error {
	var errs []error
	for _, ch := range b.Chapters {
		ast.Walk(ch.Doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if !entering {
				return ast.WalkContinue, nil
			}
			switch l := n.(type) {
			case *ast.Link:
				if dest := string(l.Destination); !External(dest) {
					if _, err := b.Resolve(ch, dest); err != nil {
						errs = append(errs, err)
					}
				}
			case *ast.Image:
				if _, err := b.Picture(ch, string(l.Destination)); err != nil {
					errs = append(errs, err)
				}
			}
			return ast.WalkContinue, nil
		})
	}
	return errs
}

// Table is a table of a chapter, as plain text, with the heading of the
// section it is in.
type Table struct {
	Section string
	Header  []string
	Rows    [][]string
}

// Tables returns ch's tables in order.
func (ch *Chapter) Tables() []Table {
	var out []Table
	section := ""
	for n := ch.Doc.FirstChild(); n != nil; n = n.NextSibling() {
		switch n := n.(type) {
		case *ast.Heading:
			section = PlainText(n, ch.Source)
		case *east.Table:
			t := Table{Section: section}
			for row := n.FirstChild(); row != nil; row = row.NextSibling() {
				var cells []string
				for c := row.FirstChild(); c != nil; c = c.NextSibling() {
					cells = append(cells, strings.TrimSpace(PlainText(c, ch.Source)))
				}
				if row.Kind() == east.KindTableHeader {
					t.Header = cells
				} else {
					t.Rows = append(t.Rows, cells)
				}
			}
			out = append(out, t)
		}
	}
	return out
}
