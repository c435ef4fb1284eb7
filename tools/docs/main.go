// Command docs builds the user guide from docs/: the static HTML site as a
// .tar.gz and the PDF, from the same Markdown chapters and pictures. It
// fails, naming each, on a broken internal link, anchor or picture.
//
//	docs -version V -release-config release/config.toml -chapter a.md ... \
//	     -picture p.diagram ... -go-src f.go ... [-html out.tar.gz] [-pdf out.pdf]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/bty-lab/bty/internal/flags"
	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/tools/docs/book"
	"github.com/bty-lab/bty/tools/docs/markers"
	"github.com/bty-lab/bty/tools/docs/pdf"
	"github.com/bty-lab/bty/tools/docs/site"
)

func main() {
	var chapters, pictures, goSrc flags.Strings
	version := flag.String("version", "", "the release version")
	releaseConfig := flag.String("release-config", "", "release/config.toml: where the container images are pushed")
	html := flag.String("html", "", "write the HTML site as this .tar.gz")
	pdfOut := flag.String("pdf", "", "write the PDF here")
	flag.Var(&chapters, "chapter", "a Markdown chapter, in reading order (repeat)")
	flag.Var(&pictures, "picture", "a picture the chapters show, a .diagram or a .png (repeat)")
	flag.Var(&goSrc, "go-src", "a Go source file whose console lines the guide lists (repeat)")
	flag.Parse()
	registry, err := registryOf(*releaseConfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
	if err := run(*version, registry, chapters, pictures, goSrc, *html, *pdfOut); err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
}

// registryOf reads the registry and namespace the release pushes the
// images to, so the guide names the same place the publisher uses.
func registryOf(path string) (string, error) {
	if path == "" {
		return "", errors.New("-release-config is required")
	}
	c, err := plan.LoadConfig(path)
	if err != nil {
		return "", err
	}
	return c.Registry.Host + "/" + c.Registry.Namespace, nil
}

func run(version, registry string, chapters, pictures, goSrc []string, html, pdfOut string) error {
	if version == "" || len(chapters) == 0 {
		return errors.New("-version and at least one -chapter are required")
	}
	srcs := map[string][]byte{}
	for _, f := range goSrc {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		srcs[f] = b
	}
	lines, err := markers.Scan(srcs)
	if err != nil {
		return err
	}
	opts := book.Options{Version: version, Registry: registry, Lines: lines}
	for _, group := range []struct {
		paths []string
		into  *[]book.Source
	}{{chapters, &opts.Chapters}, {pictures, &opts.Pictures}} {
		for _, p := range group.paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			*group.into = append(*group.into, book.Source{Path: p, Data: b})
		}
	}
	// Each rendering gets its own parse: the HTML one rewrites links.
	load := func() (*book.Book, error) {
		b, err := book.Load(opts)
		if err != nil {
			return nil, err
		}
		return b, errors.Join(b.Check()...)
	}
	if html != "" {
		b, err := load()
		if err != nil {
			return err
		}
		files, err := site.Files(b)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := site.Tarball(&out, "bty-docs-html-v"+version, files); err != nil {
			return err
		}
		if err := os.WriteFile(html, out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if pdfOut != "" {
		b, err := load()
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := pdf.Render(b, &out); err != nil {
			return err
		}
		if err := os.WriteFile(pdfOut, out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
