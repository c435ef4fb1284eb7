// Package wheelcheck validates a wheel the way installers and PyPI read it: the
// file name, the zip's members, RECORD's hashes and sizes, WHEEL's tags and
// METADATA's required fields.
package wheelcheck

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Wheel is what Check learned about a valid wheel.
type Wheel struct {
	Name, Version string
	Tags          []string // e.g. py3-none-manylinux_2_17_x86_64
	Scripts       []string // names installed on PATH
	Metadata      map[string][]string
	Description   string // METADATA's body (the long description)
}

var fileName = regexp.MustCompile(`^([A-Za-z0-9_.]+)-([0-9][^-]*)-(py3)-(none)-([a-z0-9_.]+)\.whl$`)

// Check validates the wheel at path.
func Check(path string) (*Wheel, error) {
	m := fileName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return nil, fmt.Errorf("%s: not a wheel file name (NAME-VERSION-py3-none-PLATFORM.whl)", filepath.Base(path))
	}
	w := &Wheel{Name: m[1], Version: m[2], Metadata: map[string][]string{}}
	var fileTags []string
	for _, p := range strings.Split(m[5], ".") {
		fileTags = append(fileTags, "py3-none-"+p)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	dist := w.Name + "-" + w.Version
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
	}
	read := func(name string) (string, error) {
		f, ok := files[name]
		if !ok {
			return "", fmt.Errorf("missing %s", name)
		}
		r, err := f.Open()
		if err != nil {
			return "", err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		return string(b), err
	}
	var errs []error
	record, err := read(dist + ".dist-info/RECORD")
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(record), "\n") {
		parts := strings.Split(line, ",")
		if len(parts) != 3 {
			errs = append(errs, fmt.Errorf("RECORD line %q", line))
			continue
		}
		listed[parts[0]] = true
		if parts[0] == dist+".dist-info/RECORD" {
			continue
		}
		f, ok := files[parts[0]]
		if !ok {
			errs = append(errs, fmt.Errorf("RECORD lists %s, which is not in the wheel", parts[0]))
			continue
		}
		r, _ := f.Open()
		h := sha256.New()
		n, _ := io.Copy(h, r)
		r.Close()
		if want := "sha256=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)); parts[1] != want || parts[2] != fmt.Sprint(n) {
			errs = append(errs, fmt.Errorf("RECORD entry for %s is %s,%s; the file is %s,%d", parts[0], parts[1], parts[2], want, n))
		}
		if strings.HasPrefix(parts[0], dist+".data/scripts/") {
			w.Scripts = append(w.Scripts, strings.TrimPrefix(parts[0], dist+".data/scripts/"))
			if f.Mode()&0o111 == 0 {
				errs = append(errs, fmt.Errorf("script %s is not executable", parts[0]))
			}
		}
	}
	for name := range files {
		if !listed[name] {
			errs = append(errs, fmt.Errorf("%s is in the wheel but not in RECORD", name))
		}
	}
	wheel, err := read(dist + ".dist-info/WHEEL")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(wheel, "\n") {
		if tag, ok := strings.CutPrefix(line, "Tag: "); ok {
			w.Tags = append(w.Tags, tag)
		}
	}
	if fmt.Sprint(w.Tags) != fmt.Sprint(fileTags) {
		errs = append(errs, fmt.Errorf("WHEEL tags %v differ from the file name's %v", w.Tags, fileTags))
	}
	if !strings.Contains(wheel, "Root-Is-Purelib: false") {
		errs = append(errs, errors.New("WHEEL must say Root-Is-Purelib: false for platform binaries"))
	}
	meta, err := read(dist + ".dist-info/METADATA")
	if err != nil {
		return nil, err
	}
	errs = append(errs, w.readMetadata("METADATA", meta))
	for _, t := range w.Tags {
		if !strings.Contains(t, "manylinux") && !strings.Contains(t, "musllinux") {
			errs = append(errs, fmt.Errorf("tag %s is not one PyPI accepts for Linux binaries (manylinux/musllinux)", t))
		}
	}
	return w, errors.Join(errs...)
}

// readMetadata reads core metadata (a wheel's METADATA, an sdist's
// PKG-INFO) and checks the fields PyPI's upload needs.
func (w *Wheel) readMetadata(file, meta string) error {
	var errs []error
	head, body, _ := strings.Cut(meta, "\n\n")
	w.Description = body
	sc := bufio.NewScanner(strings.NewReader(head))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		w.Metadata[k] = append(w.Metadata[k], v)
	}
	for _, k := range []string{"Metadata-Version", "Name", "Version", "Summary", "License", "Requires-Python", "Project-URL", "Description-Content-Type"} {
		if len(w.Metadata[k]) == 0 {
			errs = append(errs, fmt.Errorf("%s lacks %s", file, k))
		}
	}
	if v := w.Metadata["Version"]; len(v) == 1 && v[0] != w.Version {
		errs = append(errs, fmt.Errorf("%s version %s differs from the file name's %s", file, v[0], w.Version))
	}
	return errors.Join(errs...)
}

var sdistName = regexp.MustCompile(`^([a-z0-9_]+)-([0-9][^-]*)\.tar\.gz$`)

// IsSdist reports whether a file name is a source distribution's
// (NAME-VERSION.tar.gz, the name normalized as PEP 625 asks).
func IsSdist(name string) bool { return sdistName.MatchString(name) }

// CheckSdist validates the source distribution at path as pip and PyPI
// read it: its name, every member inside NAME-VERSION/, no link and no
// path out of it, a PKG-INFO with the fields an upload needs, and a
// pyproject.toml naming the build backend.
func CheckSdist(path string) (*Wheel, error) {
	m := sdistName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return nil, fmt.Errorf("%s: not an sdist file name (NAME-VERSION.tar.gz)", filepath.Base(path))
	}
	w := &Wheel{Name: m[1], Version: m[2], Metadata: map[string][]string{}}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	tr := tar.NewReader(zr)
	root := w.Name + "-" + w.Version + "/"
	var meta, pyproject string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		name := h.Name
		if !strings.HasPrefix(name, root) || strings.Contains(name, "..") || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir) {
			return nil, fmt.Errorf("%s: member %s is not a file or directory inside %s", filepath.Base(path), name, root)
		}
		switch strings.TrimPrefix(name, root) {
		case "PKG-INFO", "pyproject.toml":
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(name, "PKG-INFO") {
				meta = string(b)
			} else {
				pyproject = string(b)
			}
		}
	}
	if meta == "" || !strings.Contains(pyproject, "build-backend") {
		return nil, fmt.Errorf("%s: no PKG-INFO, or a pyproject.toml without a build-backend", filepath.Base(path))
	}
	return w, w.readMetadata("PKG-INFO", meta)
}
