package images_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	pintftp "github.com/pin/tftp/v3"

	"github.com/bty-lab/bty/internal/ocirun"
	"github.com/bty-lab/bty/internal/testenv"
)

// index opens the layout among an oci_index target's outputs.
func index(t *testing.T, env string) v1.ImageIndex {
	t.Helper()
	return ocirun.Open(t, testenv.Runfiles(t, env, "//images:images_test"))
}

func TestOCIIndexes(t *testing.T) {
	v := version(t)
	for _, env := range []string{"BTY_OCI_WEB", "BTY_OCI_TFTP"} {
		idx := index(t, env)
		if err := validate.Index(idx); err != nil {
			t.Errorf("%s: %v", env, err)
		}
		for _, arch := range []string{"amd64", "arm64"} {
			cfg, err := ocirun.Platform(t, idx, arch).ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Config.User != "1000:1000" || cfg.Config.Labels["org.opencontainers.image.version"] != v || len(cfg.Config.ExposedPorts) != 1 || cfg.Architecture != arch {
				t.Errorf("%s %s config: %+v", env, arch, cfg.Config)
			}
			if rev := cfg.Config.Labels["org.opencontainers.image.revision"]; len(rev) < 7 {
				t.Errorf("%s: revision label %q", env, rev)
			}
			if _, ok := cfg.Config.Volumes["/var/lib/bty"]; !ok {
				t.Errorf("%s: no /var/lib/bty volume", env)
			}
		}
	}
}

// push writes the index to a registry at host and pulls it back by digest.
func push(t *testing.T, host, repo string, idx v1.ImageIndex) {
	t.Helper()
	ref, err := name.ParseReference(host+"/"+repo+":test", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("push to %s: %v", host, err)
	}
	want, _ := idx.Digest()
	got, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull from %s: %v", host, err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("%s: pulled %s, pushed %s", host, d, want)
	}
	if err := validate.Index(got); err != nil {
		t.Errorf("pulled index from %s: %v", host, err)
	}
}

func TestPushToRegistries(t *testing.T) {
	idx := index(t, "BTY_OCI_WEB")
	mem := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer mem.Close()
	push(t, strings.TrimPrefix(mem.URL, "http://"), "bty/bty-web", idx)

	// Debian's docker-registry (distribution), a real registry server.
	push(t, testenv.Registry(t), "bty/bty-web", idx)
}

// unpack extracts an image's filesystem into dir, owners included.
// The amd64 images run: their entrypoint, chrooted into the unpacked
// rootfs as the image user, serves /healthz (bty-web, writing its state to
// the volume) and a TFTP read of ipxe.efi (bty-tftp).
func TestEntrypointsRunAsImageUser(t *testing.T) {
	testenv.Require(t, "root (chroot and setuid)", func() error {
		if os.Geteuid() != 0 {
			return fmt.Errorf("not root")
		}
		return nil
	}())
	run := func(img v1.Image, extra []string, env ...string) {
		testenv.Start(t, ocirun.Command(t, img, extra, env...))
	}
	port := testenv.FreePort(t)
	run(ocirun.Platform(t, index(t, "BTY_OCI_WEB"), "amd64"), nil, "BTY_SERVER_LISTEN=127.0.0.1", fmt.Sprintf("BTY_SERVER_PORT=%d", port), "BTY_ADMIN_PASSWORD=x")
	testenv.WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	// The image's iPXE files were seeded into bty-web's boot files.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/boot/ipxe.efi", port))
	if err != nil {
		t.Fatal(err)
	}
	efi, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(efi) < 500000 {
		t.Errorf("GET /boot/ipxe.efi from the bty-web image: %s, %d bytes", resp.Status, len(efi))
	}

	tftpPort := testenv.FreePort(t)
	run(ocirun.Platform(t, index(t, "BTY_OCI_TFTP"), "amd64"), []string{"-listen", fmt.Sprintf("127.0.0.1:%d", tftpPort)})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := pintftp.NewClient(fmt.Sprintf("127.0.0.1:%d", tftpPort))
		c.SetTimeout(time.Second)
		wt, err := c.Receive("ipxe.efi", "octet")
		if err == nil {
			var b bytes.Buffer
			if _, err := wt.WriteTo(&b); err != nil || b.Len() < 500000 {
				t.Errorf("TFTP read of ipxe.efi: %d bytes, %v", b.Len(), err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bty-tftp in the image did not serve ipxe.efi: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The Secure Boot chain beside iPXE: shim, GRUB, and grub.cfg where
	// GRUB looks for it.
	for name, min := range map[string]int{"shimx64.efi": 500000, "grubx64.efi": 1000000, "grub/grub.cfg": 100} {
		c, _ := pintftp.NewClient(fmt.Sprintf("127.0.0.1:%d", tftpPort))
		c.SetTimeout(time.Second)
		var b bytes.Buffer
		wt, err := c.Receive(name, "octet")
		if err == nil {
			_, err = wt.WriteTo(&b)
		}
		if err != nil || b.Len() < min {
			t.Errorf("TFTP read of %s from the bty-tftp image: %d bytes, %v", name, b.Len(), err)
		}
	}
}
