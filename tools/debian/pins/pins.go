// Package pins reads and re-pins the Debian packages MODULE.bazel fetches
// (debian.deb tags): each pin names a file below the mirror, its sha256,
// and the Debian snapshot archive timestamp at which that exact file can be
// fetched once the mirror (sid's pool keeps only current versions) has
// dropped it.
package pins

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bazelbuild/buildtools/build"
)

// Pin is one debian.deb tag.
type Pin struct {
	Name     string // the repository name
	Filename string // pool/main/...
	SHA256   string
	Snapshot string // YYYYMMDDTHHMMSSZ

	call *build.CallExpr
}

// Package is the Debian package name the filename carries.
func (p Pin) Package() string {
	base := p.Filename[strings.LastIndex(p.Filename, "/")+1:]
	name, _, _ := strings.Cut(base, "_")
	return name
}

// Arch is the architecture the filename carries (amd64, arm64, all).
func (p Pin) Arch() string {
	base := strings.TrimSuffix(p.Filename[strings.LastIndex(p.Filename, "/")+1:], ".deb")
	return base[strings.LastIndex(base, "_")+1:]
}

var (
	snapshotStamp = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)
	sha256Hex     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// SnapshotLayout is the time layout of snapshot archive URLs.
const SnapshotLayout = "20060102T150405Z"

// Check says what is wrong with a pin, or nil.
func (p Pin) Check() error {
	switch {
	case !strings.HasPrefix(p.Filename, "pool/") || !strings.HasSuffix(p.Filename, ".deb"):
		return fmt.Errorf("%s: filename %q is not a pool/... .deb path", p.Name, p.Filename)
	case !sha256Hex.MatchString(p.SHA256):
		return fmt.Errorf("%s: sha256 %q is not 64 lower-case hex digits", p.Name, p.SHA256)
	case !snapshotStamp.MatchString(p.Snapshot):
		return fmt.Errorf("%s: snapshot %q is not a snapshot timestamp like 20261030T140801Z; run tools/bazel run //tools/debian:update", p.Name, p.Snapshot)
	}
	if _, err := time.Parse(SnapshotLayout, p.Snapshot); err != nil {
		return fmt.Errorf("%s: snapshot %q: %w", p.Name, p.Snapshot, err)
	}
	return nil
}

// File is a parsed MODULE.bazel.
type File struct {
	f    *build.File
	Pins []Pin
}

// Parse reads the debian.deb tags of a MODULE.bazel.
func Parse(path string, data []byte) (*File, error) {
	f, err := build.ParseModule(path, data)
	if err != nil {
		return nil, err
	}
	out := &File{f: f}
	for _, stmt := range f.Stmt {
		call, ok := stmt.(*build.CallExpr)
		if !ok {
			continue
		}
		dot, ok := call.X.(*build.DotExpr)
		if !ok || dot.Name != "deb" {
			continue
		}
		if id, ok := dot.X.(*build.Ident); !ok || id.Name != "debian" {
			continue
		}
		p := Pin{call: call}
		for _, arg := range call.List {
			kv, ok := arg.(*build.AssignExpr)
			if !ok {
				continue
			}
			key, _ := kv.LHS.(*build.Ident)
			val, _ := kv.RHS.(*build.StringExpr)
			if key == nil || val == nil {
				continue
			}
			switch key.Name {
			case "name":
				p.Name = val.Value
			case "filename":
				p.Filename = val.Value
			case "sha256":
				p.SHA256 = val.Value
			case "snapshot":
				p.Snapshot = val.Value
			}
		}
		out.Pins = append(out.Pins, p)
	}
	return out, nil
}

// Set rewrites pin i to a new file, digest and snapshot.
func (f *File) Set(i int, filename, sha256, snapshot string) {
	p := &f.Pins[i]
	p.Filename, p.SHA256, p.Snapshot = filename, sha256, snapshot
	values := map[string]string{"filename": filename, "sha256": sha256, "snapshot": snapshot}
	for _, arg := range p.call.List {
		if kv, ok := arg.(*build.AssignExpr); ok {
			if key, ok := kv.LHS.(*build.Ident); ok {
				if v, ok := values[key.Name]; ok {
					kv.RHS = &build.StringExpr{Value: v}
					delete(values, key.Name)
				}
			}
		}
	}
	for _, k := range []string{"filename", "sha256", "snapshot"} {
		if v, ok := values[k]; ok {
			p.call.List = append(p.call.List, &build.AssignExpr{LHS: &build.Ident{Name: k}, Op: "=", RHS: &build.StringExpr{Value: v}})
		}
	}
}

// Format returns the file as buildifier writes it.
func (f *File) Format() []byte { return build.Format(f.f) }
