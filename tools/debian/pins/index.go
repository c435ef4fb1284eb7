package pins

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/xi2/xz"
)

// Entry is one package of a Packages index.
type Entry struct {
	Package, Version, Architecture, Filename, SHA256 string
}

// Index is a suite's packages on a mirror, by name.
type Index struct {
	Date    time.Time // the suite's Release date
	entries map[string][]Entry
}

// Fetch reads the Release date and the Packages indexes of suite for the
// given architectures (and "all", which sid lists apart) from mirror.
func Fetch(client *http.Client, mirror, suite string, archs []string) (*Index, error) {
	idx := &Index{entries: map[string][]Entry{}}
	rel, err := get(client, mirror+"/dists/"+suite+"/Release")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(rel), "\n") {
		if v, ok := strings.CutPrefix(l, "Date: "); ok {
			if idx.Date, err = time.Parse(time.RFC1123, strings.TrimSpace(v)); err != nil {
				return nil, fmt.Errorf("%s's Release: date %q: %w", suite, v, err)
			}
		}
	}
	if idx.Date.IsZero() {
		return nil, fmt.Errorf("%s/dists/%s/Release has no Date", mirror, suite)
	}
	for _, arch := range append(archs, "all") {
		if err := idx.read(client, mirror+"/dists/"+suite+"/main/binary-"+arch); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

func get(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// read parses one Packages index, trying xz, then gzip, then plain.
func (idx *Index) read(client *http.Client, dir string) error {
	var lastErr error
	for _, c := range []struct {
		ext    string
		reader func(io.Reader) (io.Reader, error)
	}{
		{".xz", func(r io.Reader) (io.Reader, error) { return xz.NewReader(r, 0) }},
		{".gz", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{"", func(r io.Reader) (io.Reader, error) { return r, nil }},
	} {
		resp, err := client.Get(dir + "/Packages" + c.ext)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			lastErr = fmt.Errorf("GET %s/Packages%s: %s", dir, c.ext, resp.Status)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("GET %s/Packages%s: %s", dir, c.ext, resp.Status)
		}
		r, err := c.reader(resp.Body)
		if err == nil {
			err = idx.parse(r)
		}
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("reading %s/Packages%s: %w", dir, c.ext, err)
		}
		return nil
	}
	return lastErr
}

func (idx *Index) parse(r io.Reader) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	var e Entry
	flush := func() {
		if e.Package != "" && e.Filename != "" && e.SHA256 != "" {
			idx.entries[e.Package] = append(idx.entries[e.Package], e)
		}
		e = Entry{}
	}
	for s.Scan() {
		l := s.Text()
		if l == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok || strings.HasPrefix(l, " ") {
			continue
		}
		switch k {
		case "Package":
			e.Package = v
		case "Version":
			e.Version = v
		case "Architecture":
			e.Architecture = v
		case "Filename":
			e.Filename = v
		case "SHA256":
			e.SHA256 = v
		}
	}
	flush()
	return s.Err()
}

// versioned finds the version part of a package name, such as the kernel
// ABI in linux-image-7.2.13+deb14-amd64, which changes with each new
// upstream release.
var versioned = regexp.MustCompile(`[0-9]+(\.[0-9]+)+(\+[a-z0-9]+)?`)

// Current returns the newest entry of the pinned package for its
// architecture. A package whose name carries a version (a kernel ABI) is
// followed to the newest package of the same name pattern, so the three
// kernel packages move to the next ABI together.
func (idx *Index) Current(p Pin) (Entry, error) {
	name, arch := p.Package(), p.Arch()
	expr, at := "^", 0
	for _, loc := range versioned.FindAllStringIndex(name, -1) {
		expr += regexp.QuoteMeta(name[at:loc[0]]) + `[0-9][0-9.]*(\+[a-z0-9]+)?`
		at = loc[1]
	}
	pattern := regexp.MustCompile(expr + regexp.QuoteMeta(name[at:]) + "$")
	var best Entry
	for pkg, entries := range idx.entries {
		if pkg != name && !pattern.MatchString(pkg) {
			continue
		}
		for _, e := range entries {
			if e.Architecture != arch {
				continue
			}
			if best.Package == "" || CompareVersions(e.Version, best.Version) > 0 ||
				CompareVersions(e.Version, best.Version) == 0 && e.Package > best.Package {
				best = e
			}
		}
	}
	if best.Package == "" {
		return best, fmt.Errorf("%s: no package %s (%s) on the mirror any more, nor one named like it; pin its successor by hand", p.Name, name, arch)
	}
	return best, nil
}

// Snapshot is the snapshot archive timestamp for files of this index: six
// hours after the suite's Release date, so that the snapshot the archive
// redirects to (the latest at or before the timestamp) is the one taken
// right after the mirror's state was published (snapshots come every six
// hours), which holds exactly these files.
func (idx *Index) Snapshot() string {
	return idx.Date.UTC().Add(6 * time.Hour).Format(SnapshotLayout)
}
