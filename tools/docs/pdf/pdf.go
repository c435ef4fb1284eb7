// Package pdf renders the guide as a printable PDF: a title page, a table
// of contents with page numbers, the chapters with headings, tables, code
// blocks and pictures, page numbers, an outline for PDF readers, and the
// Go fonts embedded. The output is a function of the book alone: the same
// guide gives the same bytes.
package pdf

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/bty-lab/bty/tools/docs/book"
	"github.com/bty-lab/bty/tools/docs/highlight"
	"github.com/bty-lab/bty/tools/docs/site"
)

// Page geometry, in millimetres, and type sizes, in points.
const (
	pageW, pageH = 210.0, 297.0
	marginL      = 22.0
	marginR      = 22.0
	marginT      = 20.0
	marginB      = 22.0
	textW        = pageW - marginL - marginR
	bodySize     = 10.0
	bodyLine     = 5.0
	codeSize     = 8.0
	codeLine     = 3.9
	tableSize    = 8.2
	tableLine    = 3.8
	ptToMM       = 25.4 / 72
)

// Render writes the guide as a PDF. It lays the book out twice: the first
// pass finds the page of every heading, the second prints the table of
// contents with them (the contents' own length does not depend on them).
func Render(b *book.Book, w io.Writer) error {
	first := &renderer{b: b}
	if err := first.render(); err != nil {
		return err
	}
	second := &renderer{b: b, known: first.pages}
	if err := second.render(); err != nil {
		return err
	}
	for k, p := range first.pages {
		if second.pages[k] != p {
			return fmt.Errorf("pdf: heading %s moved from page %d to %d between passes", k, p, second.pages[k])
		}
	}
	return second.pdf.Output(w)
}

type renderer struct {
	b     *book.Book
	pdf   *fpdf.Fpdf
	known map[string]int // heading key -> page, from the first pass
	pages map[string]int // heading key -> page, in this pass
	links map[string]int // heading key -> fpdf link
	ch    *book.Chapter
	// inline state
	bold, italic, code bool
	link               int // internal link id, or -1
	url                string
	// pngWidths are the pixel widths of the PNGs registered, by name.
	pngWidths map[string]int
}

// key names a heading: chapter name and anchor ("" for the chapter).
func key(ch *book.Chapter, anchor string) string { return ch.Name + "#" + anchor }

func (r *renderer) render() error {
	p := fpdf.New("P", "mm", "A4", "")
	r.pdf = p
	r.pages, r.links = map[string]int{}, map[string]int{}
	epoch := time.Unix(0, 0).UTC()
	p.SetCreationDate(epoch)
	p.SetModificationDate(epoch)
	p.SetCatalogSort(true)
	p.SetCompression(true)
	p.SetTitle(r.b.Title+" "+r.b.Version, true)
	p.SetAuthor("bty", true)
	p.SetCreator("bty tools/docs", true)
	p.SetProducer("bty tools/docs", true)
	// fpdf's font subsetter writes into the bytes it is given: each
	// document gets its own copy of the fonts, or a second rendering in the
	// same process would embed fonts the first one changed.
	p.AddUTF8FontFromBytes("go", "", bytes.Clone(goregular.TTF))
	p.AddUTF8FontFromBytes("go", "B", bytes.Clone(gobold.TTF))
	p.AddUTF8FontFromBytes("go", "I", bytes.Clone(goitalic.TTF))
	p.AddUTF8FontFromBytes("gomono", "", bytes.Clone(gomono.TTF))
	p.AddUTF8FontFromBytes("gomono", "B", bytes.Clone(gomonobold.TTF))
	p.SetMargins(marginL, marginT, marginR)
	p.SetAutoPageBreak(true, marginB)
	p.SetFooterFunc(func() {
		if p.PageNo() == 1 {
			return
		}
		p.SetY(-14)
		p.SetFont("go", "", 8)
		p.SetTextColor(110, 110, 110)
		p.CellFormat(textW/2, 5, "bty "+r.b.Version+" user guide", "", 0, "L", false, 0, "")
		p.CellFormat(textW/2, 5, fmt.Sprint(p.PageNo()), "", 0, "R", false, 0, "")
	})
	for _, ch := range r.b.Chapters {
		for _, h := range ch.Headings {
			k := key(ch, h.ID)
			if h.Level == 1 {
				k = key(ch, "")
			}
			r.links[k] = p.AddLink()
			if h.Level == 1 {
				r.links[key(ch, h.ID)] = r.links[k]
			}
		}
	}
	r.titlePage()
	r.contents()
	for i, ch := range r.b.Chapters {
		r.ch = ch
		if err := r.chapter(i+1, ch); err != nil {
			return err
		}
	}
	return p.Error()
}

func (r *renderer) titlePage() {
	p := r.pdf
	p.AddPage()
	p.SetY(90)
	p.SetFont("go", "B", 40)
	p.SetTextColor(43, 76, 126)
	p.CellFormat(textW, 16, "bty", "", 1, "L", false, 0, "")
	p.SetFont("go", "", 20)
	p.SetTextColor(30, 35, 43)
	p.CellFormat(textW, 12, "User guide", "", 1, "L", false, 0, "")
	p.Ln(4)
	p.SetFont("go", "", 12)
	p.CellFormat(textW, 7, "Version "+r.b.Version, "", 1, "L", false, 0, "")
	p.Ln(30)
	p.SetFont("go", "", 10)
	p.SetTextColor(87, 96, 106)
	p.MultiCell(textW, 5, "bty flashes pre-built disk images onto bare-metal and virtual machines: unattended over PXE from bty-web, or from a USB live stick at the console.", "", "L", false)
}

// contents prints the table of contents: chapters and their sections.
func (r *renderer) contents() {
	p := r.pdf
	p.AddPage()
	p.SetFont("go", "B", 20)
	p.SetTextColor(30, 35, 43)
	p.CellFormat(textW, 12, "Contents", "", 1, "L", false, 0, "")
	p.Ln(4)
	for i, ch := range r.b.Chapters {
		for _, h := range ch.Headings {
			if h.Level > 2 {
				continue
			}
			k := key(ch, h.ID)
			label, indent, style, size := h.Text, 8.0, "", 9.5
			if h.Level == 1 {
				k = key(ch, "")
				label, indent, style, size = fmt.Sprintf("%d  %s", i+1, h.Text), 0, "B", 10.5
				p.Ln(1.5)
			}
			page := "?"
			if n, ok := r.known[k]; ok {
				page = fmt.Sprint(n)
			}
			p.SetFont("go", style, size)
			p.SetX(marginL + indent)
			lw, pw := p.GetStringWidth(label), p.GetStringWidth(page)
			dots := ""
			if gap := textW - indent - lw - pw - 4; gap > 0 {
				dots = strings.Repeat(".", int(gap/p.GetStringWidth(".")))
			}
			p.SetTextColor(30, 35, 43)
			p.CellFormat(lw+1, 5.6, label, "", 0, "L", false, r.links[k], "")
			p.SetTextColor(160, 160, 160)
			p.CellFormat(textW-indent-lw-pw-2, 5.6, dots, "", 0, "R", false, 0, "")
			p.SetTextColor(30, 35, 43)
			p.CellFormat(pw+1, 5.6, page, "", 1, "R", false, r.links[k], "")
		}
	}
}

func (r *renderer) chapter(n int, ch *book.Chapter) error {
	for c := ch.Doc.FirstChild(); c != nil; c = c.NextSibling() {
		if err := r.block(c, n); err != nil {
			return fmt.Errorf("%s: %w", ch.Path, err)
		}
	}
	return nil
}

func (r *renderer) block(n ast.Node, chapterNo int) error {
	p := r.pdf
	src := r.ch.Source
	switch n := n.(type) {
	case *ast.Heading:
		r.heading(n, chapterNo)
	case *ast.Paragraph, *ast.TextBlock:
		if img := onlyImage(n); img != nil {
			return r.picture(img)
		}
		r.body()
		r.inlines(n, bodyLine)
		p.Ln(bodyLine + 2)
	case *ast.List:
		r.list(n, chapterNo)
		p.Ln(1.5)
	case *ast.FencedCodeBlock, *ast.CodeBlock:
		lang := ""
		if f, ok := n.(*ast.FencedCodeBlock); ok && f.Info != nil {
			lang = string(f.Language(src))
		}
		r.codeBlock(lang, site.CodeLines(n, src))
	case *east.Table:
		r.table(n)
	case *ast.ThematicBreak:
		p.Ln(3)
	case *ast.HTMLBlock:
		// Comments only (generated parts were expanded when loading).
	case *ast.Blockquote:
		l, _, _, _ := p.GetMargins()
		p.SetLeftMargin(l + 6)
		p.SetX(l + 6)
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if err := r.block(c, chapterNo); err != nil {
				return err
			}
		}
		p.SetLeftMargin(l)
	default:
		return fmt.Errorf("pdf: no rendering for Markdown %s", n.Kind())
	}
	return nil
}

func (r *renderer) heading(h *ast.Heading, chapterNo int) {
	p := r.pdf
	text := book.PlainText(h, r.ch.Source)
	id, _ := h.AttributeString("id")
	ids, _ := id.([]byte)
	k := key(r.ch, string(ids))
	switch h.Level {
	case 1:
		p.AddPage()
		k = key(r.ch, "")
		p.SetFont("go", "", 11)
		p.SetTextColor(43, 76, 126)
		p.CellFormat(textW, 6, fmt.Sprintf("Chapter %d", chapterNo), "", 1, "L", false, 0, "")
		p.SetFont("go", "B", 22)
		p.SetTextColor(30, 35, 43)
		r.anchor(k)
		p.Bookmark(fmt.Sprintf("%d %s", chapterNo, text), 0, -1)
		p.MultiCell(textW, 10, text, "", "L", false)
		p.SetDrawColor(43, 76, 126)
		p.SetLineWidth(0.6)
		p.Line(marginL, p.GetY()+1, marginL+textW, p.GetY()+1)
		p.Ln(6)
	default:
		size, before := 14.0, 5.0
		if h.Level > 2 {
			size, before = 11.5, 3.0
		}
		// Keep a heading with the first lines after it.
		if p.GetY()+before+30 > pageH-marginB {
			p.AddPage()
		} else {
			p.Ln(before)
		}
		p.SetFont("go", "B", size)
		p.SetTextColor(30, 35, 43)
		r.anchor(k)
		p.Bookmark(text, h.Level-1, -1)
		p.MultiCell(textW, size*0.5, text, "", "L", false)
		p.Ln(2)
	}
}

// anchor records the current position as heading k's.
func (r *renderer) anchor(k string) {
	r.pages[k] = r.pdf.PageNo()
	r.pdf.SetLink(r.links[k], -1, -1)
}

func (r *renderer) body() {
	r.pdf.SetFont("go", "", bodySize)
	r.pdf.SetTextColor(30, 35, 43)
}

// inlines writes n's inline children as flowing text.
func (r *renderer) inlines(n ast.Node, lh float64) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		r.inline(c, lh)
	}
}

func (r *renderer) inline(n ast.Node, lh float64) {
	p := r.pdf
	src := r.ch.Source
	switch n := n.(type) {
	case *ast.Text:
		r.write(string(n.Segment.Value(src)), lh)
		if n.SoftLineBreak() {
			r.write(" ", lh)
		}
		if n.HardLineBreak() {
			p.Ln(lh)
		}
	case *ast.String:
		r.write(string(n.Value), lh)
	case *ast.CodeSpan:
		r.code = true
		r.write(book.PlainText(n, src), lh)
		r.code = false
	case *ast.Emphasis:
		old := r.bold
		if n.Level == 2 {
			r.bold = true
		} else {
			r.italic = true
		}
		r.inlines(n, lh)
		r.bold, r.italic = old, false
	case *ast.Link:
		dest := string(n.Destination)
		if book.External(dest) {
			r.url = dest
		} else if t, err := r.b.Resolve(r.ch, dest); err == nil {
			r.link = r.links[key(t.Chapter, t.Anchor)]
		}
		r.inlines(n, lh)
		r.url, r.link = "", 0
	case *ast.AutoLink:
		r.url = string(n.URL(src))
		r.write(r.url, lh)
		r.url = ""
	default:
		r.inlines(n, lh)
	}
}

// write writes s in the current inline style.
func (r *renderer) write(s string, lh float64) {
	p := r.pdf
	size := bodySize
	if r.code {
		p.SetFont("gomono", "", size*0.92)
		p.SetTextColor(140, 40, 40)
	} else {
		style := ""
		if r.bold {
			style += "B"
		}
		if r.italic && !r.bold {
			style += "I"
		}
		p.SetFont("go", style, size)
		p.SetTextColor(30, 35, 43)
	}
	switch {
	case r.link != 0:
		p.SetTextColor(43, 76, 126)
		p.WriteLinkID(lh, s, r.link)
	case r.url != "":
		p.SetTextColor(43, 76, 126)
		p.WriteLinkString(lh, s, r.url)
	default:
		p.Write(lh, s)
	}
}

func (r *renderer) list(l *ast.List, chapterNo int) {
	p := r.pdf
	left, _, _, _ := p.GetMargins()
	n := l.Start
	for item := l.FirstChild(); item != nil; item = item.NextSibling() {
		r.body()
		bullet := "•"
		if l.IsOrdered() {
			bullet = fmt.Sprintf("%d.", n)
			n++
		}
		p.SetX(left)
		p.CellFormat(6, bodyLine, bullet, "", 0, "L", false, 0, "")
		p.SetLeftMargin(left + 6)
		for c := item.FirstChild(); c != nil; c = c.NextSibling() {
			switch c.(type) {
			case *ast.Paragraph, *ast.TextBlock:
				r.body()
				r.inlines(c, bodyLine)
				p.Ln(bodyLine + 0.8)
			default:
				r.block(c, chapterNo)
			}
			p.SetX(left + 6)
		}
		p.SetLeftMargin(left)
	}
	p.SetX(left)
}

var colours = map[highlight.Kind][3]int{
	highlight.Plain:   {30, 35, 43},
	highlight.Comment: {106, 115, 125},
	highlight.String:  {34, 134, 58},
	highlight.Keyword: {111, 66, 193},
	highlight.Name:    {0, 92, 197},
}

func (r *renderer) codeBlock(lang string, lines []string) {
	p := r.pdf
	left, _, _, _ := p.GetMargins()
	width := marginL + textW - left
	p.SetFont("gomono", "", codeSize)
	p.SetFillColor(246, 248, 250)
	const pad = 2.5
	maxW := width - 2*pad
	p.SetX(left)
	p.CellFormat(width, 1.5, "", "", 1, "", true, 0, "")
	for _, line := range lines {
		for _, part := range wrapCode(p, line, maxW) {
			p.SetX(left)
			p.CellFormat(width, codeLine, "", "", 0, "", true, 0, "")
			y := p.GetY()
			x := left + pad
			for _, t := range highlight.Line(lang, part) {
				c := colours[t.Kind]
				p.SetTextColor(c[0], c[1], c[2])
				style := ""
				if t.Kind == highlight.Keyword {
					style = "B"
				}
				p.SetFont("gomono", style, codeSize)
				w := p.GetStringWidth(t.Text)
				p.SetXY(x, y)
				p.CellFormat(w, codeLine, t.Text, "", 0, "L", false, 0, "")
				x += w
			}
			p.SetXY(left, y+codeLine)
		}
	}
	p.CellFormat(width, 1.5, "", "", 1, "", true, 0, "")
	p.Ln(3)
}

// wrapCode cuts a code line that is wider than w into pieces.
func wrapCode(p *fpdf.Fpdf, line string, w float64) []string {
	var out []string
	runes := []rune(line)
	for len(runes) > 0 {
		n := len(runes)
		for n > 1 && p.GetStringWidth(string(runes[:n])) > w {
			n--
		}
		out = append(out, string(runes[:n]))
		runes = runes[n:]
	}
	if len(out) == 0 {
		out = []string{""}
	}
	return out
}

// cell is one table cell's text and whether it is all code.
type cell struct {
	text string
	code bool
}

func (r *renderer) cells(row ast.Node) []cell {
	var out []cell
	for c := row.FirstChild(); c != nil; c = c.NextSibling() {
		only := c.FirstChild() != nil && c.FirstChild() == c.LastChild() && c.FirstChild().Kind() == ast.KindCodeSpan
		out = append(out, cell{strings.TrimSpace(book.PlainText(c, r.ch.Source)), only})
	}
	return out
}

func (r *renderer) table(t *east.Table) {
	p := r.pdf
	var rows [][]cell
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		rows = append(rows, r.cells(row))
	}
	cols := len(rows[0])
	const pad = 1.6
	font := func(c cell, header bool) {
		switch {
		case header:
			p.SetFont("go", "B", tableSize)
		case c.code:
			p.SetFont("gomono", "", tableSize*0.95)
		default:
			p.SetFont("go", "", tableSize)
		}
	}
	// Natural and minimal (longest word) widths of each column.
	natural, least := make([]float64, cols), make([]float64, cols)
	for i, row := range rows {
		for j := 0; j < cols && j < len(row); j++ {
			font(row[j], i == 0)
			natural[j] = math.Max(natural[j], p.GetStringWidth(row[j].text)+2*pad+0.5)
			for _, w := range strings.Fields(row[j].text) {
				least[j] = math.Max(least[j], math.Min(p.GetStringWidth(w)+2*pad+0.5, textW/3))
			}
		}
	}
	widths := fit(natural, least, textW)
	p.Ln(1)
	for i, row := range rows {
		lines := make([][]string, cols)
		height := 0.0
		for j := 0; j < cols; j++ {
			c := cell{}
			if j < len(row) {
				c = row[j]
			}
			font(c, i == 0)
			lines[j] = p.SplitText(c.text, widths[j]-2*pad+2*p.GetCellMargin())
			height = math.Max(height, float64(len(lines[j]))*tableLine+2*pad-1)
		}
		if p.GetY()+height > pageH-marginB {
			p.AddPage()
		}
		y, x := p.GetY(), marginL
		for j := 0; j < cols; j++ {
			c := cell{}
			if j < len(row) {
				c = row[j]
			}
			p.SetDrawColor(210, 216, 224)
			p.SetLineWidth(0.2)
			style := "D"
			if i == 0 {
				p.SetFillColor(236, 240, 245)
				style = "FD"
			}
			p.Rect(x, y, widths[j], height, style)
			font(c, i == 0)
			p.SetTextColor(30, 35, 43)
			if c.code {
				p.SetTextColor(140, 40, 40)
			}
			for k, l := range lines[j] {
				p.SetXY(x+pad-p.GetCellMargin(), y+pad-0.5+float64(k)*tableLine)
				p.CellFormat(widths[j]-2*pad, tableLine, l, "", 0, "L", false, 0, "")
			}
			x += widths[j]
		}
		p.SetXY(marginL, y+height)
	}
	p.Ln(4)
}

// fit gives each column its natural width if all fit, else shares the
// width out: first each column's least width, then the rest in proportion
// to what each still wants.
func fit(natural, least []float64, total float64) []float64 {
	sum := 0.0
	for _, n := range natural {
		sum += n
	}
	if sum <= total {
		return natural
	}
	w := make([]float64, len(natural))
	used, want := 0.0, 0.0
	for i := range natural {
		w[i] = math.Min(least[i], natural[i])
		used += w[i]
		want += natural[i] - w[i]
	}
	if rest := total - used; rest > 0 && want > 0 {
		for i := range w {
			w[i] += rest * (natural[i] - w[i]) / want
		}
	}
	return w
}

// onlyImage returns the image a paragraph consists of, or nil.
func onlyImage(n ast.Node) *ast.Image {
	if img, ok := n.FirstChild().(*ast.Image); ok && n.FirstChild() == n.LastChild() {
		return img
	}
	return nil
}

func (r *renderer) picture(img *ast.Image) error {
	p := r.pdf
	pic, err := r.b.Picture(r.ch, string(img.Destination))
	if err != nil {
		return err
	}
	var w, h float64 // points
	if pic.PNG != nil {
		// A screenshot: CSS pixels, 96 to the inch.
		w, h = float64(pic.Width)*72/96, float64(pic.Height)*72/96
	} else {
		w, h = pic.Diagram.Size()
	}
	scale := math.Min(1, textW/(w*ptToMM))
	wmm, hmm := w*ptToMM*scale, h*ptToMM*scale
	if p.GetY()+hmm+10 > pageH-marginB {
		p.AddPage()
	}
	x0, y0 := marginL+(textW-wmm)/2, p.GetY()+2
	if pic.PNG != nil {
		opt := fpdf.ImageOptions{ImageType: "PNG"}
		width, err := r.registerPNG(pic)
		if err != nil {
			return fmt.Errorf("%s: picture %s: %w", r.ch.Path, pic.Name, err)
		}
		// A widened picture's extra white columns fall outside its frame.
		p.ImageOptions(pic.Name, x0, y0, wmm*float64(width)/float64(pic.Width), hmm, false, opt, 0, "")
		p.SetDrawColor(208, 215, 222)
		p.SetLineWidth(0.2)
		p.Rect(x0, y0, wmm, hmm, "D")
		if err := p.Error(); err != nil {
			return fmt.Errorf("%s: picture %s: %w", r.ch.Path, pic.Name, err)
		}
	} else {
		pic.Diagram.Draw(&canvas{p: p, x0: x0, y0: y0, s: scale * ptToMM})
	}
	p.SetXY(marginL, y0+hmm+1)
	p.SetFont("go", "I", 8.5)
	p.SetTextColor(87, 96, 106)
	p.CellFormat(textW, 5, book.PlainText(img, r.ch.Source), "", 1, "C", false, 0, "")
	p.Ln(3)
	return nil
}

// registerPNG puts a PNG into the PDF once and returns the width it has
// there. fpdf writes its images in the order of a map, sorted (at best) by
// width, so two images of one width would come out in either order and
// the PDF would differ from build to build. Each PNG therefore gets a width
// of its own: the first as it is, a later one of a width already taken
// with as many white columns added on the right as make it unique.
func (r *renderer) registerPNG(pic *book.Picture) (int, error) {
	if w, ok := r.pngWidths[pic.Name]; ok {
		return w, nil
	}
	if r.pngWidths == nil {
		r.pngWidths = map[string]int{}
	}
	taken := map[int]bool{}
	for _, w := range r.pngWidths {
		taken[w] = true
	}
	data, w := pic.PNG, pic.Width
	for taken[w] {
		w++
	}
	if w != pic.Width {
		img, err := png.Decode(bytes.NewReader(pic.PNG))
		if err != nil {
			return 0, err
		}
		wide := image.NewRGBA(image.Rect(0, 0, w, pic.Height))
		draw.Draw(wide, wide.Bounds(), image.White, image.Point{}, draw.Src)
		draw.Draw(wide, img.Bounds(), img, img.Bounds().Min, draw.Src)
		var b bytes.Buffer
		if err := png.Encode(&b, wide); err != nil {
			return 0, err
		}
		data = b.Bytes()
	}
	r.pdf.RegisterImageOptionsReader(pic.Name, fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(data))
	r.pngWidths[pic.Name] = w
	return w, r.pdf.Error()
}

// canvas draws a diagram on the page: picture points to millimetres.
type canvas struct {
	p         *fpdf.Fpdf
	x0, y0, s float64
}

func (c *canvas) X(x float64) float64 { return c.x0 + x*c.s }
func (c *canvas) Y(y float64) float64 { return c.y0 + y*c.s }

func (c *canvas) Rect(x, y, w, h float64) {
	c.p.SetDrawColor(43, 76, 126)
	c.p.SetFillColor(238, 243, 250)
	c.p.SetLineWidth(0.35)
	c.p.RoundedRect(c.X(x), c.Y(y), w*c.s, h*c.s, 1.6, "1234", "FD")
}

func (c *canvas) Line(x1, y1, x2, y2 float64) {
	c.p.SetDrawColor(68, 68, 68)
	c.p.SetLineWidth(0.35)
	c.p.Line(c.X(x1), c.Y(y1), c.X(x2), c.Y(y2))
}

func (c *canvas) Arrowhead(tx, ty, lx, ly, rx, ry float64) {
	c.p.SetFillColor(68, 68, 68)
	c.p.Polygon([]fpdf.PointType{{X: c.X(tx), Y: c.Y(ty)}, {X: c.X(lx), Y: c.Y(ly)}, {X: c.X(rx), Y: c.Y(ry)}}, "F")
}

func (c *canvas) Text(x, y, size float64, bold bool, s string) {
	style := ""
	if bold {
		style = "B"
	}
	c.p.SetFont("go", style, size*c.s/ptToMM)
	c.p.SetTextColor(30, 35, 43)
	c.p.Text(c.X(x)-c.p.GetStringWidth(s)/2, c.Y(y), s)
}
