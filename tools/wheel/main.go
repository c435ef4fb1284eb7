// Command wheel packs static binaries into a Python wheel, the way binary
// tools ship on PyPI: each binary is a wheel script, so `pip install
// bty-lab` puts it on PATH. The wheel is byte-for-byte reproducible: sorted
// entries, fixed times (SOURCE_DATE_EPOCH, at least 1980), fixed modes.
//
//	wheel -out DIR -name bty-lab -version 1.4.0 -platform manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64 \
//	    -readme README.md -script bty=path/to/bty [-script ...]
package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type scripts map[string]string

func (s scripts) String() string { return fmt.Sprint(map[string]string(s)) }
func (s scripts) Set(v string) error {
	name, src, ok := strings.Cut(v, "=")
	if !ok || name == "" || strings.ContainsAny(name, "/\\") {
		return fmt.Errorf("want NAME=SRC, got %q", v)
	}
	s[name] = src
	return nil
}

type options struct {
	out, name, version, platform, readme, summary, license, requiresPython string
	urls                                                                   []string
	scripts                                                                scripts
	sdist                                                                  bool
	gomod, goModules, manifest, backend                                    string
}

func main() {
	o := options{scripts: scripts{}}
	var urls string
	flag.StringVar(&o.out, "out", "", "output wheel file")
	flag.StringVar(&o.name, "name", "", "distribution name, e.g. bty-lab")
	flag.StringVar(&o.version, "version", "", "version")
	flag.StringVar(&o.platform, "platform", "", "platform tag(s), dot-separated (compressed tag set)")
	flag.StringVar(&o.readme, "readme", "", "README (markdown) for the long description")
	flag.StringVar(&o.summary, "summary", "", "one-line summary")
	flag.StringVar(&o.license, "license", "", "license")
	flag.StringVar(&o.requiresPython, "requires-python", ">=3.8", "Requires-Python")
	flag.StringVar(&urls, "project-urls", "", "comma-separated LABEL=URL pairs")
	flag.Var(o.scripts, "script", "NAME=SRC: a binary installed as NAME (repeatable); for -sdist, SRC is its main package")
	flag.BoolVar(&o.sdist, "sdist", false, "write the source distribution instead (see sdist.go)")
	flag.StringVar(&o.gomod, "gomod", "", "-sdist: the repository's go.mod")
	flag.StringVar(&o.goModules, "go-modules", "", "-sdist: tools/wheel/go-modules.txt")
	flag.StringVar(&o.manifest, "manifest", "", "-sdist: the Go packages' files (JSON, from wheel.bzl)")
	flag.StringVar(&o.backend, "backend", "", "-sdist: the build backend (bty_build.py)")
	flag.Parse()
	if urls != "" {
		o.urls = strings.Split(urls, ",")
	}
	run := build
	if o.sdist {
		run = buildSdist
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "wheel:", err)
		os.Exit(1)
	}
}

// normalize is the wheel file-name form of a distribution name.
func normalize(name string) string { return strings.ReplaceAll(strings.ToLower(name), "-", "_") }

func epoch() time.Time {
	t := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	if n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil && n > t.Unix() {
		t = time.Unix(n, 0).UTC()
	}
	return t
}

// metadata is the distribution's core metadata: a wheel's METADATA and
// the sdist's PKG-INFO (the same fields; the wheel its sdist builds
// copies it).
func metadata(o options) (string, error) {
	readme, err := os.ReadFile(o.readme)
	if err != nil {
		return "", fmt.Errorf("README: %w", err)
	}
	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: %s\nRequires-Python: %s\n", o.name, o.version, o.summary, o.license, o.requiresPython)
	for _, u := range o.urls {
		label, link, _ := strings.Cut(u, "=")
		fmt.Fprintf(&meta, "Project-URL: %s, %s\n", label, link)
	}
	fmt.Fprintf(&meta, "Description-Content-Type: text/markdown\n\n%s", readme)
	return meta.String(), nil
}

// initPy is the distribution's Python package: only its version.
func initPy(o options) []byte {
	return []byte(fmt.Sprintf("\"\"\"%s: the bty binaries, installed as scripts.\"\"\"\n\n__version__ = %q\n", o.name, o.version))
}

func build(o options) error {
	if o.out == "" || o.name == "" || o.version == "" || o.platform == "" || len(o.scripts) == 0 {
		return fmt.Errorf("-out, -name, -version, -platform and at least one -script are required")
	}
	dist := normalize(o.name) + "-" + o.version
	meta, err := metadata(o)
	if err != nil {
		return err
	}
	var wheel strings.Builder
	fmt.Fprintf(&wheel, "Wheel-Version: 1.0\nGenerator: bty tools/wheel\nRoot-Is-Purelib: false\n")
	for _, tag := range strings.Split(o.platform, ".") {
		fmt.Fprintf(&wheel, "Tag: py3-none-%s\n", tag)
	}

	type entry struct {
		name string
		mode os.FileMode
		data []byte
	}
	entries := []entry{
		{normalize(o.name) + "/__init__.py", 0o644, initPy(o)},
		{dist + ".dist-info/METADATA", 0o644, []byte(meta)},
		{dist + ".dist-info/WHEEL", 0o644, []byte(wheel.String())},
	}
	names := make([]string, 0, len(o.scripts))
	for n := range o.scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(o.scripts[n])
		if err != nil {
			return err
		}
		entries = append(entries, entry{dist + ".data/scripts/" + n, 0o755, b})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var record strings.Builder
	for _, e := range entries {
		sum := sha256.Sum256(e.data)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", e.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(e.data))
	}
	recordName := dist + ".dist-info/RECORD"
	fmt.Fprintf(&record, "%s,,\n", recordName)
	// RECORD comes last, as installers expect.
	entries = append(entries, entry{recordName, 0o644, []byte(record.String())})

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	t := epoch()
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: t}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(e.data); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	file := fmt.Sprintf("%s-py3-none-%s.whl", dist, o.platform)
	if filepath.Base(o.out) != file {
		return fmt.Errorf("output must be named %s, not %s", file, filepath.Base(o.out))
	}
	return os.WriteFile(o.out, buf.Bytes(), 0o644)
}
