// Package ocirun runs the container images bty publishes the way a
// container runtime would, so tests exercise exactly what ships: it opens
// an OCI layout Bazel built, unpacks one platform's layers into a root
// filesystem (owners and modes as the layers say), and starts the image's
// entrypoint chrooted there, as the image's user, with the image's
// environment and working directory, in the caller's network namespace.
// It needs root (chroot, setuid).
package ocirun

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Open reads the OCI layout among an oci_index target's outputs (the
// layout directory and its tarball).
func Open(t testing.TB, outputs []string) v1.ImageIndex {
	t.Helper()
	var p string
	for _, f := range outputs {
		if !strings.HasSuffix(f, ".tar") {
			p = f
		}
	}
	if p == "" {
		t.Fatalf("no OCI layout directory among %v", outputs)
	}
	// The runfiles tree holds the layout's blobs as symlinks, which the
	// layout reader refuses (rightly, for a layout it might write to): read
	// a real copy.
	cp := filepath.Join(t.TempDir(), "layout")
	if err := copyTree(p, cp); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(cp)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return idx
}

// Platform returns the index's linux image for arch.
func Platform(t testing.TB, idx v1.ImageIndex, arch string) v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Architecture == arch && d.Platform.OS == "linux" {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no linux/%s image", arch)
	return nil
}

// Unpack writes the image's flattened file system into dir.
func Unpack(t testing.TB, img v1.Image, dir string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				var f *os.File
				if f, err = os.Create(p); err == nil {
					_, err = io.Copy(f, tr)
					f.Close()
				}
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		default:
			continue
		}
		if err != nil {
			t.Fatalf("unpacking %s: %v", h.Name, err)
		}
		os.Lchown(p, h.Uid, h.Gid)
		if h.Typeflag != tar.TypeSymlink {
			os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm|os.FileMode(h.Mode)&os.ModeSticky)
		}
	}
}

// Command unpacks img into a fresh root and returns its entrypoint (with
// args appended) ready to start there: chrooted, as the image's user, with
// the image's environment and then env, in the image's working directory.
func Command(t testing.TB, img v1.Image, args []string, env ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("running an image needs root (chroot, setuid)")
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	Unpack(t, img, root)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	argv := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	argv = append(argv, args...)
	if len(argv) == 0 {
		t.Fatal("the image has no entrypoint")
	}
	uid, gid, err := user(c.User)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, c.Env...), env...)
	cmd.Dir = c.WorkingDir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// user parses an image's numeric "uid:gid" (bty's images name no users).
func user(s string) (uint32, uint32, error) {
	u, g, _ := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("image user %q: want numeric uid:gid", s)
	}
	gid := uid
	if g != "" {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("image user %q: want numeric uid:gid", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
