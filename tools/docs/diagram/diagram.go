// Package diagram reads the guide's pictures from a small text format and
// draws them: as SVG for the HTML guide and onto any Canvas (the PDF).
// One description, two renderings, so the pictures of the two guides
// cannot differ.
//
// A picture is boxes on a grid and labelled arrows between them:
//
//	# a comment
//	box ID COLUMN ROW "first line" "second line"
//	arrow FROM TO "label"
package diagram

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Geometry of the grid, in points (1/72 inch); the SVG uses them as pixels.
const (
	CellW   = 215.0
	CellH   = 90.0
	BoxW    = 140.0
	BoxH    = 44.0
	Margin  = 10.0
	fontBig = 10.0
	fontSm  = 8.0
)

// Box is one node.
type Box struct {
	ID       string
	Col, Row int
	Lines    []string
}

// Arrow connects two boxes.
type Arrow struct {
	From, To string
	Label    string
}

// Diagram is a parsed picture.
type Diagram struct {
	Boxes  []Box
	Arrows []Arrow
}

// Parse reads a picture; name is for errors.
func Parse(name string, r io.Reader) (*Diagram, error) {
	d := &Diagram{}
	ids := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := split(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		switch {
		case words[0] == "box" && len(words) >= 5:
			col, err1 := strconv.Atoi(words[2])
			row, err2 := strconv.Atoi(words[3])
			if err1 != nil || err2 != nil || col < 0 || row < 0 {
				return nil, fmt.Errorf("%s:%d: box %s: column and row must be whole numbers from 0", name, n, words[1])
			}
			if ids[words[1]] {
				return nil, fmt.Errorf("%s:%d: box %s is defined twice", name, n, words[1])
			}
			ids[words[1]] = true
			d.Boxes = append(d.Boxes, Box{ID: words[1], Col: col, Row: row, Lines: words[4:]})
		case words[0] == "arrow" && (len(words) == 3 || len(words) == 4):
			a := Arrow{From: words[1], To: words[2]}
			if len(words) == 4 {
				a.Label = words[3]
			}
			d.Arrows = append(d.Arrows, a)
		default:
			return nil, fmt.Errorf(`%s:%d: want 'box ID COLUMN ROW "line" ...' or 'arrow FROM TO "label"', got %q`, name, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for _, a := range d.Arrows {
		for _, id := range []string{a.From, a.To} {
			if !ids[id] {
				return nil, fmt.Errorf("%s: arrow %s -> %s: no box %s", name, a.From, a.To, id)
			}
		}
	}
	if len(d.Boxes) == 0 {
		return nil, fmt.Errorf("%s: no boxes", name)
	}
	return d, nil
}

// split cuts a line into words and "quoted strings".
func split(line string) ([]string, error) {
	var words []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in %q", line)
			}
			words = append(words, line[1:1+end])
			line = line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		words = append(words, line[:end])
		line = line[end:]
	}
	return words, nil
}

// Size is the picture's width and height in points.
func (d *Diagram) Size() (w, h float64) {
	cols, rows := 0, 0
	for _, b := range d.Boxes {
		cols, rows = max(cols, b.Col+1), max(rows, b.Row+1)
	}
	return float64(cols)*CellW + 2*Margin - (CellW - BoxW), float64(rows)*CellH + 2*Margin - (CellH - BoxH)
}

func (d *Diagram) box(id string) Box {
	for _, b := range d.Boxes {
		if b.ID == id {
			return b
		}
	}
	return Box{}
}

// rect is a box's top-left corner.
func (b Box) rect() (x, y float64) {
	return Margin + float64(b.Col)*CellW, Margin + float64(b.Row)*CellH
}

// Canvas is what a picture is drawn on, in the picture's points.
type Canvas interface {
	Rect(x, y, w, h float64)
	Line(x1, y1, x2, y2 float64)
	Arrowhead(tipX, tipY, baseLeftX, baseLeftY, baseRightX, baseRightY float64)
	// Text centres s at x, with its baseline at y.
	Text(x, y, size float64, bold bool, s string)
}

// Draw draws the picture onto c.
func (d *Diagram) Draw(c Canvas) {
	for _, b := range d.Boxes {
		x, y := b.rect()
		c.Rect(x, y, BoxW, BoxH)
		top := y + BoxH/2 - float64(len(b.Lines)-1)*6 + 3.5
		for i, l := range b.Lines {
			size := fontSm
			if i == 0 {
				size = fontBig
			}
			c.Text(x+BoxW/2, top+float64(i)*12, size, i == 0, l)
		}
	}
	for _, a := range d.Arrows {
		d.drawArrow(c, a)
	}
}

func (d *Diagram) drawArrow(c Canvas, a Arrow) {
	from, to := d.box(a.From), d.box(a.To)
	fx, fy := from.rect()
	tx, ty := to.rect()
	x1, y1 := fx+BoxW/2, fy+BoxH/2
	x2, y2 := tx+BoxW/2, ty+BoxH/2
	dx, dy := x2-x1, y2-y1
	length := math.Hypot(dx, dy)
	ux, uy := dx/length, dy/length
	// Two boxes joined both ways get two parallel arrows, apart, each
	// labelled on its own side.
	side := -1.0
	for _, o := range d.Arrows {
		if o.From == a.To && o.To == a.From {
			x1, y1, x2, y2 = x1-uy*6, y1+ux*6, x2-uy*6, y2+ux*6
			side = math.Copysign(1, -uy+ux)
			break
		}
	}
	x1, y1 = clip(x1, y1, ux, uy, fx, fy)
	x2, y2 = clip(x2, y2, -ux, -uy, tx, ty)
	c.Line(x1, y1, x2, y2)
	const head, half = 7.0, 3.5
	bx, by := x2-ux*head, y2-uy*head
	c.Arrowhead(x2, y2, bx-uy*half, by+ux*half, bx+uy*half, by-ux*half)
	if a.Label != "" {
		mx, my := (x1+x2)/2, (y1+y2)/2
		// Beside a vertical line, above a horizontal or slanted one (below
		// for the second of a pair).
		half := float64(len(a.Label)) * 2.2
		switch {
		case math.Abs(ux) < 0.2 && side < 0:
			c.Text(mx-6-half, my+3, fontSm, false, a.Label)
		case math.Abs(ux) < 0.2:
			c.Text(mx+6+half, my+3, fontSm, false, a.Label)
		case side > 0:
			c.Text(mx, my+11, fontSm, false, a.Label)
		default:
			c.Text(mx, my-4, fontSm, false, a.Label)
		}
	}
}

// clip moves a point inside the box at (bx, by) along (ux, uy) to the box's
// border.
func clip(x, y, ux, uy, bx, by float64) (float64, float64) {
	t := math.Inf(1)
	if ux > 0 {
		t = min(t, (bx+BoxW-x)/ux)
	} else if ux < 0 {
		t = min(t, (bx-x)/ux)
	}
	if uy > 0 {
		t = min(t, (by+BoxH-y)/uy)
	} else if uy < 0 {
		t = min(t, (by-y)/uy)
	}
	return x + ux*t, y + uy*t
}
