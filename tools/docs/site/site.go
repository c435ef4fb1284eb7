// Package site renders the guide as a static HTML site: one page per
// chapter with the chapter list beside it, an index with the table of
// contents, the pictures as SVG files and highlighted code, packed into a
// reproducible .tar.gz.
package site

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"html"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"

	"github.com/bty-lab/bty/tools/docs/book"
	"github.com/bty-lab/bty/tools/docs/highlight"
)

//go:embed style.css
var style []byte

// Files renders the site: file name -> bytes.
func Files(b *book.Book) (map[string][]byte, error) {
	files := map[string][]byte{"style.css": style}
	for name, p := range b.Pictures {
		if p.PNG != nil {
			files["pictures/"+name] = p.PNG
			continue
		}
		files["pictures/"+name] = p.Diagram.SVG(name)
	}
	md := book.Markdown()
	md.Renderer().AddOptions(renderer.WithNodeRenderers(util.Prioritized(codeRenderer{}, 100)))
	for i, ch := range b.Chapters {
		if err := relink(b, ch); err != nil {
			return nil, err
		}
		var body bytes.Buffer
		if err := md.Renderer().Render(&body, ch.Source, ch.Doc); err != nil {
			return nil, fmt.Errorf("rendering %s: %w", ch.Path, err)
		}
		var prev, next *book.Chapter
		if i > 0 {
			prev = b.Chapters[i-1]
		}
		if i+1 < len(b.Chapters) {
			next = b.Chapters[i+1]
		}
		files[ch.Name+".html"] = page(b, ch.Title, ch, body.String(), prev, next)
	}
	files["index.html"] = page(b, b.Title, nil, index(b), nil, b.Chapters[0])
	return files, nil
}

// relink points the chapters' links at the pages and the pictures at the
// SVG files. It changes the chapter's AST: a book is loaded once per
// rendering.
func relink(b *book.Book, ch *book.Chapter) error {
	var err error
	ast.Walk(ch.Doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch l := n.(type) {
		case *ast.Link:
			dest := string(l.Destination)
			if book.External(dest) {
				return ast.WalkContinue, nil
			}
			t, e := b.Resolve(ch, dest)
			if e != nil {
				err = e
				return ast.WalkStop, nil
			}
			href := t.Chapter.Name + ".html"
			if t.Anchor != "" {
				href += "#" + t.Anchor
			}
			l.Destination = []byte(href)
		case *ast.Image:
			p, e := b.Picture(ch, string(l.Destination))
			if e != nil {
				err = e
				return ast.WalkStop, nil
			}
			l.Destination = []byte("pictures/" + p.Name)
		}
		return ast.WalkContinue, nil
	})
	return err
}

func index(b *book.Book) string {
	var s strings.Builder
	fmt.Fprintf(&s, "<h1>%s</h1>\n<p class=\"version\">Version %s</p>\n<ol class=\"toc\">\n", html.EscapeString(b.Title), html.EscapeString(b.Version))
	for _, ch := range b.Chapters {
		fmt.Fprintf(&s, "<li><a href=\"%s.html\">%s</a>", ch.Name, html.EscapeString(ch.Title))
		var subs []book.Heading
		for _, h := range ch.Headings {
			if h.Level == 2 {
				subs = append(subs, h)
			}
		}
		if len(subs) > 0 {
			s.WriteString("\n<ul>\n")
			for _, h := range subs {
				fmt.Fprintf(&s, "<li><a href=\"%s.html#%s\">%s</a></li>\n", ch.Name, h.ID, html.EscapeString(h.Text))
			}
			s.WriteString("</ul>\n")
		}
		s.WriteString("</li>\n")
	}
	s.WriteString("</ol>\n")
	return s.String()
}

func page(b *book.Book, title string, current *book.Chapter, body string, prev, next *book.Chapter) []byte {
	var s strings.Builder
	fmt.Fprintf(&s, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s - bty %s</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<nav>
<p class="brand"><a href="index.html">bty %s</a></p>
<ol>
`, html.EscapeString(title), html.EscapeString(b.Version), html.EscapeString(b.Version))
	for _, ch := range b.Chapters {
		class := ""
		if ch == current {
			class = ` class="current"`
		}
		fmt.Fprintf(&s, "<li%s><a href=\"%s.html\">%s</a></li>\n", class, ch.Name, html.EscapeString(ch.Title))
	}
	s.WriteString("</ol>\n</nav>\n<main>\n")
	s.WriteString(body)
	s.WriteString("<p class=\"pager\">")
	if prev != nil {
		fmt.Fprintf(&s, "<a href=\"%s.html\">&larr; %s</a>", prev.Name, html.EscapeString(prev.Title))
	}
	if next != nil {
		fmt.Fprintf(&s, " <a class=\"next\" href=\"%s.html\">%s &rarr;</a>", next.Name, html.EscapeString(next.Title))
	}
	s.WriteString("</p>\n</main>\n</body>\n</html>\n")
	return []byte(s.String())
}

// codeRenderer writes fenced and indented code blocks with highlight's
// tokens as classed spans.
type codeRenderer struct{}

func (codeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindFencedCodeBlock, renderCode)
	reg.Register(ast.KindCodeBlock, renderCode)
}

var classes = map[highlight.Kind]string{highlight.Comment: "c", highlight.String: "s", highlight.Keyword: "k", highlight.Name: "n"}

func renderCode(w util.BufWriter, source []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	lang := ""
	if f, ok := n.(*ast.FencedCodeBlock); ok && f.Info != nil {
		lang = string(f.Language(source))
	}
	w.WriteString("<pre><code>")
	for _, line := range CodeLines(n, source) {
		for _, t := range highlight.Line(lang, line) {
			if c, ok := classes[t.Kind]; ok {
				fmt.Fprintf(w, `<span class="%s">%s</span>`, c, html.EscapeString(t.Text))
			} else {
				w.WriteString(html.EscapeString(t.Text))
			}
		}
		w.WriteString("\n")
	}
	w.WriteString("</code></pre>\n")
	return ast.WalkSkipChildren, nil
}

// CodeLines returns a code block's lines, without their line ends.
func CodeLines(n ast.Node, source []byte) []string {
	var lines []string
	for i := 0; i < n.Lines().Len(); i++ {
		seg := n.Lines().At(i)
		lines = append(lines, strings.TrimRight(string(seg.Value(source)), "\n"))
	}
	return lines
}

// Tarball packs files under dir/ reproducibly: sorted, fixed times, owner
// root, modes 0644 and 0755.
func Tarball(w io.Writer, dir string, files map[string][]byte) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := path.Dir(path.Join(dir, n)); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var dirNames []string
	for d := range dirs {
		dirNames = append(dirNames, d)
	}
	slices.Sort(dirNames)
	for _, d := range dirNames {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(dir, n), Mode: 0o644, Size: int64(len(files[n])), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
