// Package docs_test checks the user guide as built and as written: the PDF
// opens in poppler's reader with every chapter, its fonts embedded and a
// sane page count; the HTML site has no broken reference; both are
// reproducible; the committed SVG pictures are what their .diagram sources
// draw, the committed screenshots what the web UI looks like now
// (drift_test.go checks the guide against the code).
package docs_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/docs/book"
	"github.com/bty-lab/bty/tools/docs/diagram"
)

const target = "//docs:docs_test"

// sources returns the files of a filegroup: from Bazel's runfiles, or
// under plain go test from the source tree.
func sources(t *testing.T, env string, globs ...string) []book.Source {
	t.Helper()
	var paths []string
	if os.Getenv(env) != "" {
		paths = testenv.Runfiles(t, env, target)
	} else {
		for _, g := range globs {
			more, _ := filepath.Glob(g)
			paths = append(paths, more...)
		}
	}
	if len(paths) == 0 {
		t.Fatalf("no files for %s (%s)", env, globs)
	}
	var out []book.Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// Messages name the file as the repository does.
		rel := "docs/" + p
		if i := strings.LastIndex(p, "/docs/"); i >= 0 {
			rel = p[i+1:]
		}
		out = append(out, book.Source{Path: rel, Data: b})
	}
	return out
}

// load reads the guide from its sources, without the generated console
// lines (drift_test.go checks those against the code).
func load(t *testing.T) *book.Book {
	t.Helper()
	b, err := book.Load(book.Options{
		Version:  "0.0.0",
		Registry: "registry.example/bty",
		Chapters: sources(t, "BTY_DOCS_CHAPTERS", "guide/*.md"),
		Pictures: sources(t, "BTY_DOCS_PICTURES", "pictures/*.diagram", "pictures/*.png"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every internal link, anchor and picture of the guide resolves (the build
// refuses the guide otherwise; this names each broken one).
func TestLinks(t *testing.T) {
	for _, err := range load(t).Check() {
		t.Error(err)
	}
}

// The committed SVGs, which GitHub shows beside the Markdown, are what
// their .diagram sources draw. UPDATE_GOLDEN=1 go test ./docs rewrites them.
func TestPicturesCommitted(t *testing.T) {
	for _, src := range sources(t, "BTY_DOCS_PICTURES", "pictures/*.diagram") {
		if path.Ext(src.Path) != ".diagram" {
			continue
		}
		d, err := diagram.Parse(src.Path, bytes.NewReader(src.Data))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(path.Base(src.Path), ".diagram") + ".svg"
		want := d.SVG(name)
		if os.Getenv("UPDATE_GOLDEN") != "" {
			if err := os.WriteFile(filepath.Join("pictures", name), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(svgFile(t, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/pictures/%s is not what docs/pictures/%s draws (%v); run UPDATE_GOLDEN=1 go test ./docs", name, path.Base(src.Path), err)
		}
	}
}

// The committed pictures of the web UI, which GitHub shows beside the
// Markdown, are what this build's bty-web looks like in Chromium: the
// pictures //docs:ui_pictures took now, of the same size, with at most 1%
// of their pixels changed (Chromium's text rendering may move a little
// between its releases; a change to a page moves far more).
// To update them: tools/bazel build //docs:ui_pictures and copy
// bazel-bin/docs/ui_pictures/*.png into docs/pictures.
func TestScreenshotsCommitted(t *testing.T) {
	var taken []book.Source
	for _, src := range sources(t, "BTY_DOCS_PICTURES", "pictures/*.png") {
		if path.Ext(src.Path) == ".png" {
			taken = append(taken, src)
		}
	}
	committed := map[string]string{}
	for _, p := range committedPNGs(t) {
		committed[filepath.Base(p)] = p
	}
	if len(taken) == 0 || len(taken) != len(committed) {
		t.Errorf("%d pictures taken, %d committed in docs/pictures (%v)", len(taken), len(committed), committed)
	}
	for _, src := range taken {
		name := path.Base(src.Path)
		p, ok := committed[name]
		if !ok {
			t.Errorf("docs/pictures/%s is not committed; copy it from bazel-bin/docs/ui_pictures", name)
			continue
		}
		old, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if diff, err := pixelsChanged(old, src.Data); err != nil || diff > 0.01 {
			t.Errorf("docs/pictures/%s is not what the web UI looks like now (%.1f%% of its pixels differ, %v); copy bazel-bin/docs/ui_pictures/%s over it", name, 100*diff, err, name)
		}
	}
}

func committedPNGs(t *testing.T) []string {
	if os.Getenv("BTY_DOCS_PNGS") == "" {
		paths, _ := filepath.Glob("pictures/*.png")
		return paths
	}
	return testenv.Runfiles(t, "BTY_DOCS_PNGS", target)
}

// pixelsChanged is the share of pixels that differ noticeably between two
// PNGs of one size.
func pixelsChanged(a, b []byte) (float64, error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return 1, err
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 1, err
	}
	if ia.Bounds() != ib.Bounds() {
		return 1, fmt.Errorf("size %v, now %v", ia.Bounds().Size(), ib.Bounds().Size())
	}
	r := ia.Bounds()
	changed := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := ia.At(x, y).RGBA()
			r2, g2, b2, _ := ib.At(x, y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x1000 {
				changed++
			}
		}
	}
	return float64(changed) / float64(r.Dx()*r.Dy()), nil
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func svgFile(t *testing.T, name string) string {
	if os.Getenv("BTY_DOCS_SVGS") == "" {
		return filepath.Join("pictures", name)
	}
	for _, p := range testenv.Runfiles(t, "BTY_DOCS_SVGS", target) {
		if filepath.Base(p) == name {
			return p
		}
	}
	return filepath.Join("pictures", name)
}

func version(t *testing.T) string {
	b, err := os.ReadFile(testenv.Runfile(t, "BTY_VERSION_FILE", target))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func poppler(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, tool, "poppler-utils"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The PDF opens in a real reader: a sane number of A4 pages, every chapter
// title in its text (and in the contents), the release's version, and every
// font embedded.
func TestPDF(t *testing.T) {
	pdf := testenv.Runfile(t, "BTY_DOCS_PDF", target)
	if got, want := filepath.Base(pdf), "bty-docs-v"+version(t)+".pdf"; got != want {
		t.Errorf("the PDF is named %s, want %s", got, want)
	}
	info := poppler(t, "pdfinfo", pdf)
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("pdfinfo shows no page count:\n%s", info)
	}
	pages, _ := strconv.Atoi(m[1])
	if pages < 15 || pages > 80 {
		t.Errorf("the PDF has %d pages; a complete guide has 15 to 80", pages)
	}
	if !strings.Contains(info, "A4") {
		t.Errorf("the PDF's pages are not A4:\n%s", info)
	}
	text := poppler(t, "pdftotext", "-layout", pdf, "-")
	if !strings.Contains(text, "Version "+version(t)) {
		t.Errorf("the title page does not say Version %s", version(t))
	}
	for _, ch := range load(t).Chapters {
		if n := strings.Count(text, ch.Title); n < 2 {
			t.Errorf("chapter %q appears %d times in the PDF's text; want it in the contents and as a heading", ch.Title, n)
		}
	}
	fonts := strings.Split(strings.TrimSpace(poppler(t, "pdffonts", pdf)), "\n")
	if len(fonts) < 3 {
		t.Fatalf("pdffonts lists no fonts:\n%s", strings.Join(fonts, "\n"))
	}
	for _, l := range fonts[2:] {
		// name type encoding emb sub uni object ID: emb is 4th from the end.
		f := strings.Fields(l)
		if len(f) < 7 || f[len(f)-5] != "yes" {
			t.Errorf("font not embedded: %s", l)
		}
	}
}

func untar(t *testing.T, file string) map[string][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = b
		}
	}
}

// The HTML site: every chapter has its page; every href and src of every
// page resolves to a file of the site (and an id on it, for anchors); every
// picture is well-formed SVG.
func TestHTML(t *testing.T) {
	tarball := testenv.Runfile(t, "BTY_DOCS_HTML", target)
	dir := "bty-docs-html-v" + version(t)
	if got := filepath.Base(tarball); got != dir+".tar.gz" {
		t.Errorf("the HTML tarball is named %s, want %s.tar.gz", got, dir)
	}
	files := untar(t, tarball)
	ids := map[string]map[string]bool{}
	type ref struct{ page, attr, val string }
	var refs []ref
	for name, data := range files {
		if !strings.HasPrefix(name, dir+"/") {
			t.Errorf("%s is outside %s/", name, dir)
		}
		switch path.Ext(name) {
		case ".html":
			doc, err := html.Parse(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ids[name] = map[string]bool{}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				for _, a := range n.Attr {
					switch a.Key {
					case "id":
						ids[name][a.Val] = true
					case "href", "src":
						refs = append(refs, ref{name, a.Key, a.Val})
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
		case ".svg":
			if err := xml.Unmarshal(data, new(struct{})); err != nil {
				t.Errorf("%s is not well-formed SVG: %v", name, err)
			}
		}
	}
	for _, ch := range load(t).Chapters {
		if _, ok := files[dir+"/"+ch.Name+".html"]; !ok {
			t.Errorf("no page for %s", ch.Path)
		}
	}
	if _, ok := files[dir+"/index.html"]; !ok {
		t.Error("no index.html")
	}
	if len(refs) < 50 {
		t.Errorf("only %d references in the site; the check is looking at nothing", len(refs))
	}
	for _, r := range refs {
		u, err := url.Parse(r.val)
		if err != nil {
			t.Errorf("%s: %s=%q: %v", r.page, r.attr, r.val, err)
			continue
		}
		if u.Scheme != "" {
			continue
		}
		file := r.page
		if u.Path != "" {
			file = path.Join(path.Dir(r.page), u.Path)
		}
		if _, ok := files[file]; !ok {
			t.Errorf("%s: %s=%q: no such file in the site", r.page, r.attr, r.val)
			continue
		}
		if u.Fragment != "" && !ids[file][u.Fragment] {
			t.Errorf("%s: %s=%q: %s has no id %q", r.page, r.attr, r.val, file, u.Fragment)
		}
	}
}

// Both outputs are reproducible: the tool run again on the same inputs
// gives Bazel's bytes. It runs where the inputs have the paths the build
// gave them (the runfiles tree mirrors the workspace), since the guide
// names the packages that print console lines.
func TestReproducible(t *testing.T) {
	tool := testenv.Runfile(t, "BTY_DOCS_TOOL", target)
	config := testenv.Runfile(t, "BTY_RELEASE_CONFIG", target)
	root := strings.TrimSuffix(config, "/release/config.toml")
	args := []string{"-version", version(t), "-release-config", "release/config.toml"}
	for _, env := range []string{"BTY_DOCS_CHAPTERS", "BTY_DOCS_PICTURES", "BTY_DOCS_CONSOLE_SRCS"} {
		flag := map[string]string{"BTY_DOCS_CHAPTERS": "-chapter", "BTY_DOCS_PICTURES": "-picture", "BTY_DOCS_CONSOLE_SRCS": "-go-src"}[env]
		for _, p := range testenv.Runfiles(t, env, target) {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				t.Fatal(err)
			}
			args = append(args, flag, rel)
		}
	}
	dir := t.TempDir()
	htmlOut, pdfOut := filepath.Join(dir, "site.tar.gz"), filepath.Join(dir, "guide.pdf")
	cmd := exec.Command(tool, append(args, "-html", htmlOut, "-pdf", pdfOut)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docs: %v\n%s", err, out)
	}
	for built, again := range map[string]string{testenv.Runfile(t, "BTY_DOCS_HTML", target): htmlOut, testenv.Runfile(t, "BTY_DOCS_PDF", target): pdfOut} {
		a, _ := os.ReadFile(built)
		b, _ := os.ReadFile(again)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs when built again (first difference at byte %d of %d)", filepath.Base(built), testenv.FirstDiff(a, b), len(a))
		}
	}
}
