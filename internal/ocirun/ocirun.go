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
	idx, err := OpenLayout(outputs, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// OpenLayout is Open for programs: tmp is where the layout is copied.
func OpenLayout(outputs []string, tmp string) (v1.ImageIndex, error) {
	var p string
	for _, f := range outputs {
		if !strings.HasSuffix(f, ".tar") {
			p = f
		}
	}
	if p == "" {
		return nil, fmt.Errorf("no OCI layout directory among %v", outputs)
	}
	// The runfiles tree holds the layout's blobs as symlinks, which the
	// layout reader refuses (rightly, for a layout it might write to): read
	// a real copy.
	cp := filepath.Join(tmp, "layout")
	if err := copyTree(p, cp); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(cp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return idx, nil
}

// Platform returns the index's linux image for arch.
func Platform(t testing.TB, idx v1.ImageIndex, arch string) v1.Image {
	t.Helper()
	img, err := PlatformImage(idx, arch)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// PlatformImage is Platform for programs.
func PlatformImage(idx v1.ImageIndex, arch string) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Architecture == arch && d.Platform.OS == "linux" {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no linux/%s image", arch)
}

// Unpack writes the image's flattened file system into dir.
func Unpack(t testing.TB, img v1.Image, dir string) {
	t.Helper()
	if err := UnpackTo(img, dir); err != nil {
		t.Fatal(err)
	}
}

// UnpackTo is Unpack for programs.
func UnpackTo(img v1.Image, dir string) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
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
			return fmt.Errorf("unpacking %s: %w", h.Name, err)
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
	cmd, err := Prepare(img, t.TempDir(), args, env...)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

// Prepare is Command for programs: root is the (empty) directory the
// image is unpacked into.
func Prepare(img v1.Image, root string, args []string, env ...string) (*exec.Cmd, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("running an image needs root (chroot, setuid)")
	}
	os.Chmod(root, 0o755)
	if err := UnpackTo(img, root); err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	c := cfg.Config
	argv := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	argv = append(argv, args...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("the image has no entrypoint")
	}
	uid, gid, err := user(c.User)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, c.Env...), env...)
	cmd.Dir = c.WorkingDir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd, nil
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
