package catalog

import (
	"errors"
	"fmt"
	"strings"
)

// ErrArchive marks a source that is an archive (a tarball, a zip) rather than
// a disk image. No format setting makes such a source flashable.
var ErrArchive = errors.New("archive, not a disk image")

// Format is an image encoding bty decodes itself, named by its file
// extension without the leading dot.
type Format string

// The formats of "The flasher" in docs/design.md.
const (
	Raw   Format = "img"
	Gzip  Format = "img.gz"
	Zstd  Format = "img.zst"
	XZ    Format = "img.xz"
	Bzip2 Format = "img.bz2"
	QCOW2 Format = "qcow2"
)

// Formats lists every supported format, longest extension first so that a
// suffix match picks "img.gz" over "img".
var Formats = []Format{Gzip, Zstd, Bzip2, XZ, QCOW2, Raw}

// archiveSuffixes are archives people download instead of the image inside.
var archiveSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".zip", ".7z"}

// ParseFormat accepts a format name as written in a catalog (`format = "img.zst"`).
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if s == string(f) {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown format %q; want one of %s", s, formatList())
}

// FormatFromName derives the format from a file name's extension, ignoring
// case. Archives are refused with the hint to extract the image first.
func FormatFromName(name string) (Format, error) {
	lower := strings.ToLower(name)
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(lower, s) {
			return "", fmt.Errorf("%q is an %w (%s): extract the image first and use the .img (or .img.gz, .img.zst, ...) inside", name, ErrArchive, s)
		}
	}
	for _, f := range Formats {
		if strings.HasSuffix(lower, "."+string(f)) {
			return f, nil
		}
	}
	return "", fmt.Errorf("cannot tell the format of %q from its name; want a name ending in one of %s, or set format explicitly", name, formatList())
}

func formatList() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = "." + string(f)
	}
	return strings.Join(names, ", ")
}
