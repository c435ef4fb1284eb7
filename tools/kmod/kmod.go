// Package kmod picks kernel modules out of a kernel's module tree: the ones
// asked for and, recursively, the ones they depend on, in load order.
//
// Debian's package ships no modules.dep (depmod runs at install time), so
// dependencies are read where depmod reads them: the "depends=" field of
// each module's .modinfo ELF section. Only the modules needed are
// decompressed, not the whole tree.
package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Module is one loadable module.
type Module struct {
	Name    string   // canonical name, '-' replaced by '_'
	Path    string   // file below the tree, e.g. kernel/fs/squashfs/squashfs.ko.xz
	Depends []string // canonical names
	Data    []byte   // the uncompressed .ko
}

// Tree is a kernel's module directory (usr/lib/modules/<version>).
type Tree struct {
	dir     string
	paths   map[string]string // name -> relative path
	builtin map[string]bool
}

// Canonical is the name the kernel uses for a module.
func Canonical(name string) string { return strings.ReplaceAll(name, "-", "_") }

func trimExt(base string) (string, bool) {
	for _, ext := range []string{".ko.xz", ".ko.zst", ".ko.gz", ".ko"} {
		if strings.HasSuffix(base, ext) {
			return strings.TrimSuffix(base, ext), true
		}
	}
	return "", false
}

// Open indexes the modules below dir; builtin is the kernel's
// modules.builtin (may be empty), naming drivers compiled into the kernel.
func Open(dir, builtin string) (*Tree, error) {
	t := &Tree{dir: dir, paths: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name, ok := trimExt(d.Name()); ok && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			t.paths[Canonical(name)] = rel
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing modules in %s: %w", dir, err)
	}
	if builtin != "" {
		b, err := os.ReadFile(builtin)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := trimExt(filepath.Base(strings.TrimSpace(line))); ok {
				t.builtin[Canonical(name)] = true
			}
		}
	}
	return t, nil
}

// Resolve returns the wanted modules and their dependencies, each after
// everything it depends on, ties broken by name (a stable order). Wanted
// names built into the kernel are skipped; unknown names are an error.
func (t *Tree) Resolve(wanted []string) ([]*Module, error) {
	loaded := map[string]*Module{}
	var order []*Module
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = Canonical(name)
		if _, done := loaded[name]; done || t.builtin[name] {
			return nil
		}
		for _, c := range chain {
			if c == name {
				return fmt.Errorf("dependency cycle: %s -> %s", strings.Join(chain, " -> "), name)
			}
		}
		rel, ok := t.paths[name]
		if !ok {
			return fmt.Errorf("module %q is neither in %s nor built into the kernel", name, t.dir)
		}
		m, err := t.load(name, rel)
		if err != nil {
			return err
		}
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		loaded[name] = m
		order = append(order, m)
		return nil
	}
	sorted := append([]string(nil), wanted...)
	sort.Strings(sorted)
	for _, w := range sorted {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

func (t *Tree) load(name, rel string) (*Module, error) {
	f, err := os.Open(filepath.Join(t.dir, rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(rel, ".xz"):
		if r, err = xz.NewReader(f); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
	case strings.HasSuffix(rel, ".zst"):
		d, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		defer d.Close()
		r = d
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", rel, err)
	}
	deps, err := Depends(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return &Module{Name: name, Path: rel, Depends: deps, Data: data}, nil
}

// Depends reads the depends= field of a module's .modinfo section.
func Depends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("not an ELF module: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, err
	}
	var deps []string
	for _, field := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok && len(v) > 0 {
			for _, d := range strings.Split(string(v), ",") {
				deps = append(deps, Canonical(d))
			}
		}
	}
	return deps, nil
}

// sigMagic ends every signed module: the kernel looks for it before it
// verifies the signature in front of it.
const sigMagic = "~Module signature appended~\n"

// SignatureSize returns the size of the PKCS#7 signature appended to an
// uncompressed module (as the kernel's module_signature trailer describes
// it), or why the module carries none. A kernel in lockdown (Secure Boot)
// loads signed modules only; whether the signer is one it trusts only the
// kernel can say, and //e2e/usb boots it to find out.
func SignatureSize(ko []byte) (int, error) {
	const trailer = 12 // algo, hash, id_type, signer_len, key_id_len, pad[3], sig_len (big-endian)
	if !bytes.HasSuffix(ko, []byte(sigMagic)) {
		return 0, fmt.Errorf("no module signature appended")
	}
	ms := ko[:len(ko)-len(sigMagic)]
	if len(ms) < trailer {
		return 0, fmt.Errorf("truncated module signature")
	}
	info := ms[len(ms)-trailer:]
	if info[2] != 2 { // PKEY_ID_PKCS7
		return 0, fmt.Errorf("module signature of type %d, not PKCS#7", info[2])
	}
	n := int(info[8])<<24 | int(info[9])<<16 | int(info[10])<<8 | int(info[11])
	if n == 0 || n > len(ms)-trailer {
		return 0, fmt.Errorf("module signature of %d bytes in a %d-byte module", n, len(ko))
	}
	return n, nil
}
