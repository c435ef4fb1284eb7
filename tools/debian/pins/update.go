package pins

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
)

// Update re-pins the MODULE.bazel at path to the suite's current files on
// mirror (writing nothing when dryRun) and returns one line per change.
func Update(client *http.Client, path, mirror, suite string, dryRun bool) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	var archs []string
	for _, p := range f.Pins {
		if a := p.Arch(); a != "all" && !slices.Contains(archs, a) {
			archs = append(archs, a)
		}
	}
	idx, err := Fetch(client, mirror, suite, archs)
	if err != nil {
		return nil, err
	}
	var changes []string
	for i, p := range f.Pins {
		e, err := idx.Current(p)
		if err != nil {
			return nil, err
		}
		if e.Filename == p.Filename && e.SHA256 != p.SHA256 {
			return nil, fmt.Errorf("%s: the mirror's %s has sha256 %s, the pin says %s: Debian never changes a published file, so the mirror (or the pin) is wrong; nothing was written",
				p.Name, p.Filename, e.SHA256, p.SHA256)
		}
		if e.Filename == p.Filename && p.Snapshot != "" {
			continue
		}
		snapshot := p.Snapshot
		if e.Filename != p.Filename || snapshot == "" {
			snapshot = idx.Snapshot()
		}
		change := fmt.Sprintf("%s: %s -> %s (snapshot %s)", p.Name, filepath.Base(p.Filename), filepath.Base(e.Filename), snapshot)
		if e.Filename == p.Filename {
			change = fmt.Sprintf("%s: %s is current; its snapshot is %s", p.Name, filepath.Base(p.Filename), snapshot)
		}
		changes = append(changes, change)
		f.Set(i, e.Filename, e.SHA256, snapshot)
	}
	out := f.Format()
	if dryRun || bytes.Equal(out, data) {
		return changes, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return nil, err
	}
	return changes, os.Rename(tmp, path)
}
