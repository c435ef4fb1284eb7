// Package catalog reads, validates and writes catalog.toml: the list of disk
// images an operator offers to machines (docs/design.md, "catalog.toml").
//
// A catalog is loaded whole or not at all: every problem in every entry is
// reported together, each naming its entry, and no partial catalog is ever
// returned.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// Version is the only catalog format version this package reads and writes.
const Version = 1

// MaxSize bounds a catalog file; a larger one is refused before parsing, so
// a mistaken path (a disk image, say) fails fast instead of filling memory.
const MaxSize = 4 << 20

// Image is one catalog entry. After Parse, Src is canonical and Format is
// set (given or derived), so every field can be used as is.
type Image struct {
	// Name is unique in the catalog and safe in URLs and file names.
	Name string `toml:"name"`
	// Src is where the image bytes are fetched from: http(s):// or oras://.
	Src string `toml:"src"`
	// SHA256 is the digest of the bytes as fetched (compressed), if known.
	SHA256 string `toml:"sha256,omitempty"`
	// Format is how the fetched bytes are decoded.
	Format Format `toml:"format,omitempty"`
	// SizeBytes is the size as fetched, if known.
	SizeBytes int64 `toml:"size_bytes,omitzero"`
	// Arch is the machine architecture the image is for, if stated.
	Arch string `toml:"arch,omitempty"`
}

// Ref is the image's reference: the sha256 of its canonical source.
func (img Image) Ref() string { return Ref(img.Src) }

// Catalog is a validated catalog.toml.
type Catalog struct {
	Version int     `toml:"version"`
	Images  []Image `toml:"images"`
}

// Lookup finds an image by reference.
func (c *Catalog) Lookup(ref string) (Image, bool) {
	for _, img := range c.Images {
		if img.Ref() == ref {
			return img, true
		}
	}
	return Image{}, false
}

// InvalidError lists every problem found in a catalog.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid catalog: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid catalog (%d problems):\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	sha256Hex   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	archPattern = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
)

// IsSHA256 reports whether s is a sha256 as catalogs, refs and bty-web's
// headers write it: 64 lower-case hex digits.
func IsSHA256(s string) bool { return sha256Hex.MatchString(s) }

// Load reads and validates the catalog file at path.
func Load(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading catalog %q: %w", path, err)
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("reading catalog %q: %w", path, err)
	}
	return c, nil
}

// Read reads and validates a catalog of at most MaxSize bytes.
func Read(r io.Reader) (*Catalog, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("catalog larger than %d bytes; is this really a catalog.toml?", MaxSize)
	}
	return Parse(data)
}

// rawCatalog is the file as written, before validation; pointers tell an
// absent version from "version = 0".
type rawCatalog struct {
	Version *int64     `toml:"version"`
	Images  []rawImage `toml:"images"`
}

type rawImage struct {
	Name      string `toml:"name"`
	Src       string `toml:"src"`
	SHA256    string `toml:"sha256"`
	Format    string `toml:"format"`
	SizeBytes *int64 `toml:"size_bytes"`
	Arch      string `toml:"arch"`
}

// Parse validates a catalog.toml document. On any problem it returns an
// *InvalidError (or a TOML syntax error with its line) and no catalog.
func Parse(data []byte) (*Catalog, error) {
	var raw rawCatalog
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("malformed TOML at line %d: %s", perr.Position.Line, perr.Message)
		}
		return nil, fmt.Errorf("malformed catalog: %w", err)
	}

	var problems []string
	for _, key := range md.Undecoded() {
		problems = append(problems, fmt.Sprintf("unknown key %q (misspelt? known keys: version, images.{name, src, sha256, format, size_bytes, arch})", key.String()))
	}
	switch {
	case raw.Version == nil:
		problems = append(problems, fmt.Sprintf("missing \"version = %d\" at the top", Version))
	case *raw.Version != Version:
		problems = append(problems, fmt.Sprintf("version %d is not supported; this bty reads version %d", *raw.Version, Version))
	}

	c := &Catalog{Version: Version, Images: make([]Image, 0, len(raw.Images))}
	byName := map[string]int{}
	byRef := map[string]int{}
	for i, r := range raw.Images {
		img, errs := r.validate()
		where := fmt.Sprintf("image %d (name %q)", i+1, r.Name)
		for _, e := range errs {
			problems = append(problems, where+": "+e)
		}
		if len(errs) != 0 {
			continue
		}
		if first, dup := byName[img.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: duplicate name, already used by image %d", where, first))
			continue
		}
		if first, dup := byRef[img.Ref()]; dup {
			problems = append(problems, fmt.Sprintf("%s: same src as image %d (%q); each image needs its own source", where, first, raw.Images[first-1].Name))
			continue
		}
		byName[img.Name] = i + 1
		byRef[img.Ref()] = i + 1
		c.Images = append(c.Images, img)
	}
	if len(problems) != 0 {
		return nil, &InvalidError{Problems: problems}
	}
	return c, nil
}

// NewImage validates one image entry given field by field (as bty-web's
// POST /catalog/entries receives it) and returns it in canonical form, or an
// *InvalidError listing every problem.
func NewImage(name, src, sha256, format string) (Image, error) {
	img, errs := rawImage{Name: name, Src: src, SHA256: sha256, Format: format}.validate()
	if len(errs) > 0 {
		return Image{}, &InvalidError{Problems: errs}
	}
	return img, nil
}

// validate checks one entry and returns it in canonical form, or every
// problem it has.
func (r rawImage) validate() (Image, []string) {
	var errs []string
	img := Image{Name: r.Name, SHA256: r.SHA256, Arch: r.Arch}

	if !namePattern.MatchString(r.Name) {
		errs = append(errs, "name must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	src, err := CanonicalSrc(r.Src)
	switch {
	case r.Src == "":
		errs = append(errs, "src is missing; want an http(s):// or oras:// URL")
	case err != nil:
		errs = append(errs, err.Error())
	default:
		img.Src = src
	}
	if r.SHA256 != "" && !sha256Hex.MatchString(r.SHA256) {
		errs = append(errs, fmt.Sprintf("sha256 %q must be 64 lower-case hex digits", r.SHA256))
	}
	if r.SizeBytes != nil {
		if *r.SizeBytes <= 0 {
			errs = append(errs, fmt.Sprintf("size_bytes %d must be positive", *r.SizeBytes))
		}
		img.SizeBytes = *r.SizeBytes
	}
	if r.Arch != "" && !archPattern.MatchString(r.Arch) {
		errs = append(errs, fmt.Sprintf("arch %q must be a lower-case architecture name such as x86_64 or aarch64", r.Arch))
	}

	// The format is given, or derived from the source's file name, or else
	// from the entry's name; a given format must agree with the file name.
	var fromName Format
	var nameErr error
	switch file := srcFileName(img.Src); {
	case img.Src == "":
		// The source is already reported; a format guess would only add noise.
	case file != "":
		fromName, nameErr = FormatFromName(file)
	default:
		fromName, nameErr = FormatFromName(r.Name)
	}
	switch {
	case errors.Is(nameErr, ErrArchive):
		errs = append(errs, nameErr.Error())
	case r.Format != "":
		f, err := ParseFormat(r.Format)
		if err != nil {
			errs = append(errs, err.Error())
		} else if fromName != "" && fromName != f {
			errs = append(errs, fmt.Sprintf("format %q contradicts the file name, which says %q; fix one of them", f, fromName))
		}
		img.Format = f
	case nameErr != nil:
		errs = append(errs, nameErr.Error())
	default:
		img.Format = fromName
	}
	return img, errs
}

// Encode writes the catalog as catalog.toml, in canonical form: what Parse
// accepts and returns unchanged.
func (c *Catalog) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding catalog: %w", err)
	}
	return buf.Bytes(), nil
}
