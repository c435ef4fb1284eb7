package diagram

import (
	"fmt"
	"html"
	"strings"
)

// SVG renders the picture as a standalone SVG document; title is its
// accessible name.
func (d *Diagram) SVG(title string) []byte {
	w, h := d.Size()
	s := &svg{}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img" font-family="sans-serif">`+"\n", num(w), num(h), num(w), num(h))
	fmt.Fprintf(&s.b, "<title>%s</title>\n", html.EscapeString(title))
	d.Draw(s)
	s.b.WriteString("</svg>\n")
	return []byte(s.b.String())
}

type svg struct{ b strings.Builder }

// num prints coordinates with two decimals at most: stable bytes.
func num(f float64) string {
	s := strings.TrimRight(fmt.Sprintf("%.2f", f), "0")
	return strings.TrimSuffix(s, ".")
}

func (s *svg) Rect(x, y, w, h float64) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" rx="6" fill="#eef3fa" stroke="#2b4c7e" stroke-width="1.2"/>`+"\n", num(x), num(y), num(w), num(h))
}

func (s *svg) Line(x1, y1, x2, y2 float64) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444" stroke-width="1.2"/>`+"\n", num(x1), num(y1), num(x2), num(y2))
}

func (s *svg) Arrowhead(tx, ty, lx, ly, rx, ry float64) {
	fmt.Fprintf(&s.b, `<polygon points="%s,%s %s,%s %s,%s" fill="#444"/>`+"\n", num(tx), num(ty), num(lx), num(ly), num(rx), num(ry))
}

func (s *svg) Text(x, y, size float64, bold bool, t string) {
	weight := ""
	if bold {
		weight = ` font-weight="bold"`
	}
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" font-size="%s" text-anchor="middle"%s>%s</text>`+"\n", num(x), num(y), num(size), weight, html.EscapeString(t))
}
