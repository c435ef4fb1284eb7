// Command initrd builds the live environment's initramfs: a gzip-compressed
// newc cpio holding bty-init as /init, the kernel modules the live
// environment needs (resolved with their dependencies and decompressed) and
// /etc/bty/modules, their load order for bty-init. Output is byte-for-byte
// reproducible.
//
//	initrd -out initrd.cpio.gz -init bty-init -modules-dir usr/lib/modules/V \
//	    -builtin modules.builtin -module virtio_net -module squashfs ...
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/bty-lab/bty/internal/flags"
	"github.com/bty-lab/bty/tools/cpio"
	"github.com/bty-lab/bty/tools/kmod"
)

func main() {
	var modules, files flags.Strings
	out := flag.String("out", "", "output initrd (gzip-compressed cpio)")
	initBin := flag.String("init", "", "the /init executable (bty-init)")
	modDir := flag.String("modules-dir", "", "the kernel's module tree (…/lib/modules/VERSION)")
	builtin := flag.String("builtin", "", "the kernel's modules.builtin")
	flag.Var(&modules, "module", "a module to include with its dependencies (repeatable)")
	flag.Var(&files, "file", "DEST=SRC: an extra file (repeatable)")
	flag.Parse()
	if err := build(*out, *initBin, *modDir, *builtin, modules, files); err != nil {
		fmt.Fprintln(os.Stderr, "initrd:", err)
		os.Exit(1)
	}
}

func build(out, initBin, modDir, builtin string, modules, files []string) error {
	if out == "" || initBin == "" {
		return fmt.Errorf("usage: initrd -out FILE -init BIN [-modules-dir DIR -builtin FILE -module NAME ...]")
	}
	a := cpio.New()
	data, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	steps := []error{
		a.File("init", 0o755, data),
		a.CharDevice("dev/console", 0o600, 5, 1),
		a.CharDevice("dev/null", 0o666, 1, 3),
	}
	for _, d := range []string{"proc", "sys", "run", "tmp", "etc/bty"} {
		steps = append(steps, a.Dir(d, 0o755))
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	for _, f := range files {
		dest, src, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("-file %q: want DEST=SRC", f)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		perm := uint32(0o644)
		if st, err := os.Stat(src); err == nil && st.Mode()&0o111 != 0 {
			perm = 0o755
		}
		if err := a.File(dest, perm, b); err != nil {
			return err
		}
	}
	if len(modules) > 0 {
		tree, err := kmod.Open(modDir, builtin)
		if err != nil {
			return err
		}
		mods, err := tree.Resolve(modules)
		if err != nil {
			return err
		}
		version := filepath.Base(filepath.Clean(modDir))
		var order []string
		for _, m := range mods {
			p := path.Join("lib/modules", version, m.Name+".ko")
			if err := a.File(p, 0o644, m.Data); err != nil {
				return err
			}
			order = append(order, "/"+p)
		}
		if err := a.File("etc/bty/modules", 0o644, []byte(strings.Join(order, "\n")+"\n")); err != nil {
			return err
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	// gzip with no name or time in its header: the same input, the same bytes.
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := a.Write(zw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
