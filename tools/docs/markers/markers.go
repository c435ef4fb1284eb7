// Package markers finds the console lines bty and bty-init print, in their
// Go source: every string literal that starts a line with "bty: ",
// "bty-init: " or "image_root: ", and every message of bty-init's say
// helper, which adds "bty-init: " itself. The guide's list of console lines
// is generated from it and its hand-written tables are checked against it,
// so neither can name a line the code does not print.
package markers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Prefixes start every console line of bty's programs.
var Prefixes = []string{"bty: ", "bty-init: ", "image_root: "}

// sayPrefix is what liveinit's say helper puts before its message.
const sayPrefix = "bty-init: "

// Line is one console line as the code writes it: a format string.
type Line struct {
	Text    string // e.g. "bty: write %d%%"
	Package string // the directory of the file that prints it
}

// Scan parses the Go files (path -> source) and returns their console
// lines, sorted by package and text, each once.
func Scan(files map[string][]byte) ([]Line, error) {
	fset := token.NewFileSet()
	seen := map[Line]bool{}
	var out []Line
	add := func(l Line) {
		l.Text = strings.TrimSuffix(l.Text, "\n")
		if !seen[l] && !slices.Contains(Prefixes, l.Text) {
			seen[l] = true
			out = append(out, l)
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, files[name], 0)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		pkg := path.Dir(name)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if isSay(n.Fun) && len(n.Args) > 0 {
					if s, ok := literal(n.Args[0]); ok {
						add(Line{sayPrefix + s, pkg})
					}
				}
			case *ast.BasicLit:
				if s, ok := literal(n); ok && hasPrefix(s) {
					add(Line{s, pkg})
				}
			}
			return true
		})
	}
	slices.SortFunc(out, func(a, b Line) int { return strings.Compare(a.Package+"\x00"+a.Text, b.Package+"\x00"+b.Text) })
	return out, nil
}

func isSay(fun ast.Expr) bool {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name == "say"
	case *ast.SelectorExpr:
		return f.Sel.Name == "say"
	}
	return false
}

func literal(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func hasPrefix(s string) bool {
	for _, p := range Prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// verb matches a fmt verb with its flags and width.
var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// Pattern is a regular expression that matches every line the format
// string l.Text can print.
func (l Line) Pattern() *regexp.Regexp {
	parts := verb.Split(strings.ReplaceAll(l.Text, "%%", "\x00"), -1)
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(regexp.QuoteMeta(p), "\x00", "%")
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".+") + "$")
}

// placeholder is how the guide writes a value in a line: <ver>, <n>, ...
var placeholder = regexp.MustCompile(`<[a-z][a-z ]*>`)

// Example turns a line as the guide writes it ("bty: write <n>%") into a
// line the code could print ("bty: write x%"), for matching with Pattern.
func Example(documented string) string {
	return placeholder.ReplaceAllString(documented, "x")
}

// Printed returns the lines whose pattern matches the documented line, or
// none.
func Printed(lines []Line, documented string) []Line {
	ex := Example(documented)
	var out []Line
	for _, l := range lines {
		if l.Pattern().MatchString(ex) {
			out = append(out, l)
		}
	}
	return out
}
