// Command oci builds a multi-platform OCI image index from static binaries,
// without Docker: one scratch layer per platform (the binary, CA
// certificates, /etc/passwd with a non-root bty user, extra files), an OCI
// config (entrypoint, ports, volume, user, labels), written as an OCI
// layout directory and as a tarball of it. Times come from
// SOURCE_DATE_EPOCH, so the same inputs give the same digests.
//
//	oci -layout DIR -tar FILE -binary linux/amd64=bty-web -binary linux/arm64=bty-web.arm64 \
//	    -path /usr/local/bin/bty-web -port 8080/tcp -volume /var/lib/bty \
//	    -certs DIR -file /usr/share/bty/ipxe/ipxe.efi=ipxe.efi -label org.opencontainers.image.version=1.4.0
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bty-lab/bty/internal/flags"
)

type options struct {
	layoutDir, tarFile, binPath, certs, status string
	binaries, files, ports, labels             flags.Strings
	volume                                     string
	args                                       flags.Strings
}

func main() {
	var o options
	flag.StringVar(&o.layoutDir, "layout", "", "output OCI layout directory")
	flag.StringVar(&o.tarFile, "tar", "", "output tarball of the layout")
	flag.StringVar(&o.binPath, "path", "", "where the binary goes in the image (the entrypoint)")
	flag.StringVar(&o.certs, "certs", "", "directory of .crt files for /etc/ssl/certs/ca-certificates.crt")
	flag.StringVar(&o.status, "status", "", "Bazel stable status file; STABLE_GIT_COMMIT becomes org.opencontainers.image.revision")
	flag.StringVar(&o.volume, "volume", "/var/lib/bty", "volume, owned by the bty user")
	flag.Var(&o.binaries, "binary", "OS/ARCH=FILE (repeatable; one image per platform)")
	flag.Var(&o.files, "file", "DEST=SRC extra file in every image (repeatable)")
	flag.Var(&o.ports, "port", "exposed port, e.g. 8080/tcp (repeatable)")
	flag.Var(&o.labels, "label", "KEY=VALUE config label (repeatable)")
	flag.Var(&o.args, "arg", "an entrypoint argument (repeatable)")
	flag.Parse()
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "oci:", err)
		os.Exit(1)
	}
}

func epoch() time.Time {
	n, _ := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	return time.Unix(n, 0).UTC()
}

type file struct {
	mode     int64
	data     []byte
	dir      bool
	uid, gid int
}

// rootfs returns the layer's tar: sorted, one time, fixed owners.
func rootfs(files map[string]file) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	t := epoch()
	for _, n := range names {
		f := files[n]
		h := &tar.Header{Name: n, Mode: f.mode, ModTime: t, Uid: f.uid, Gid: f.gid, Format: tar.FormatPAX, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if f.dir {
			h.Typeflag, h.Name, h.Size = tar.TypeDir, n+"/", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), tw.Close()
}

func add(files map[string]file, p string, f file) {
	p = strings.TrimPrefix(path.Clean(p), "/")
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if _, ok := files[d]; !ok {
			files[d] = file{mode: 0o755, dir: true}
		}
	}
	files[p] = f
}

func caBundle(dir string) ([]byte, error) {
	var crts []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".crt") {
			crts = append(crts, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(crts)
	var b bytes.Buffer
	for _, c := range crts {
		data, err := os.ReadFile(c)
		if err != nil {
			return nil, err
		}
		b.Write(data)
		if !bytes.HasSuffix(data, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	if len(crts) == 0 {
		return nil, fmt.Errorf("no .crt files under %s", dir)
	}
	return b.Bytes(), nil
}

func build(o options) error {
	if o.layoutDir == "" || o.binPath == "" || len(o.binaries) == 0 {
		return fmt.Errorf("-layout, -path and -binary are required")
	}
	common := map[string]file{}
	add(common, "etc/passwd", file{mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nbty:x:1000:1000:bty:/var/lib/bty:/sbin/nologin\n")})
	add(common, "etc/group", file{mode: 0o644, data: []byte("root:x:0:\nbty:x:1000:\n")})
	add(common, "tmp", file{mode: 0o1777, dir: true})
	add(common, o.volume, file{mode: 0o750, dir: true, uid: 1000, gid: 1000})
	if o.certs != "" {
		bundle, err := caBundle(o.certs)
		if err != nil {
			return err
		}
		add(common, "etc/ssl/certs/ca-certificates.crt", file{mode: 0o644, data: bundle})
	}
	for _, f := range o.files {
		dest, src, _ := strings.Cut(f, "=")
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		add(common, dest, file{mode: 0o644, data: data})
	}
	labels := map[string]string{}
	for _, l := range o.labels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	if o.status != "" {
		b, err := os.ReadFile(o.status)
		if err != nil {
			return err
		}
		labels["org.opencontainers.image.revision"] = "unknown"
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "STABLE_GIT_COMMIT "); ok {
				labels["org.opencontainers.image.revision"] = v
			}
		}
	}
	ports := map[string]struct{}{}
	for _, p := range o.ports {
		ports[p] = struct{}{}
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range o.binaries {
		platform, src, _ := strings.Cut(b, "=")
		osName, arch, _ := strings.Cut(platform, "/")
		bin, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files := map[string]file{}
		for k, v := range common {
			files[k] = v
		}
		add(files, o.binPath, file{mode: 0o755, data: bin})
		tarData, err := rootfs(files)
		if err != nil {
			return err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarData)), nil },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return err
		}
		img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
		if err != nil {
			return err
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		cfg, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = osName, arch
		cfg.Created = v1.Time{Time: epoch()}
		cfg.Config = v1.Config{
			Entrypoint:   append([]string{o.binPath}, o.args...),
			ExposedPorts: ports,
			Volumes:      map[string]struct{}{o.volume: {}},
			User:         "1000:1000",
			WorkingDir:   o.volume,
			Labels:       labels,
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		}
		cfg.History = []v1.History{{Created: v1.Time{Time: epoch()}, CreatedBy: "bty tools/oci"}}
		img, err = mutate.ConfigFile(img, cfg)
		if err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}}})
	}
	os.RemoveAll(o.layoutDir)
	if _, err := layout.Write(o.layoutDir, idx); err != nil {
		return err
	}
	if o.tarFile != "" {
		return tarDir(o.layoutDir, o.tarFile)
	}
	return nil
}

// tarDir writes dir as a reproducible tarball.
func tarDir(dir, out string) error {
	files := map[string]file{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if info.IsDir() {
			files[rel] = file{mode: 0o755, dir: true}
			return nil
		}
		data, err := os.ReadFile(p)
		files[rel] = file{mode: 0o644, data: data}
		return err
	})
	if err != nil {
		return err
	}
	data, err := rootfs(files)
	if err != nil {
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
