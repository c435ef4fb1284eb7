// Package live_test boots the netboot trio in QEMU (direct kernel boot,
// user-mode networking) against the real bty-web, and checks that the live
// environment flashes the VM's disk: kernel -> bty-init -> DHCP -> squashfs
// over HTTP -> bty auto -> plan -> flash -> status -> reboot.
package live_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/e2e/vm"
	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/internal/webclient"
)

const vmMAC = "52:54:00:11:22:33"

func runfile(t *testing.T, env string) string {
	t.Helper()
	return testenv.Runfile(t, env, "//e2e/live:live_test")
}

// server runs the real bty-web on a free loopback port.
func server(t *testing.T) (base string, client *http.Client) {
	t.Helper()
	bin := runfile(t, "BTY_WEB_BINARY")
	port := testenv.FreePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "BTY_PATHS_STATE_DIR="+t.TempDir(), "BTY_SERVER_LISTEN=127.0.0.1", fmt.Sprintf("BTY_SERVER_PORT=%d", port), "BTY_ADMIN_PASSWORD=test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitHTTP(t, base+"/healthz")
	client = testenv.Login(t, base, "test")
	return base, client
}

func put(t *testing.T, c *http.Client, u string, body []byte) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("PUT", u, bytes.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %s %v", u, resp.Status, out)
	}
	return out
}

func TestNetbootFlashesTheDisk(t *testing.T) {
	qemu := testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86")
	kernel, initrd, squashfs := runfile(t, "BTY_VMLINUZ"), runfile(t, "BTY_INITRD"), runfile(t, "BTY_SQUASHFS")
	base, c := server(t)

	raw := imagetest.Disk(6<<20, 11)
	img := imagetest.Encode(t, catalog.Zstd, raw)
	up := put(t, c, base+"/images/test.img.zst", img)
	sq, err := os.ReadFile(squashfs)
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, base+"/boot/"+filepath.Base(squashfs), sq)
	// The kernel and initrd too: bty-web offers a live boot only with the
	// whole trio in place.
	for _, f := range []string{kernel, initrd} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		put(t, c, base+"/boot/"+filepath.Base(f), b)
	}
	body, _ := json.Marshal(map[string]any{"boot_mode": "bty-flash-always", "bty_image_ref": up["ref"], "target_disk_serial": "BTYTEST"})
	put(t, c, base+"/machines/"+vmMAC, body)
	// QEMU loads the kernel itself (-kernel); the boot script, asked for as
	// iPXE does, hands over the live boot's token, which bty auto's
	// requests must carry.
	m := webclient.NewMachine(base, vmMAC)
	if s, err := m.Boot(); err != nil || !strings.Contains(s, "(flash)") || m.Token == "" {
		t.Fatalf("boot script: %v\n%s", err, s)
	}

	disk := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(disk, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	guestBase := "http://10.0.2.2:" + port // QEMU's user network reaches the host's loopback here
	// The test's own deadline stays below Bazel's (size medium: 300 s).
	console := vm.Run(t, "live", vm.Options{
		QEMU: qemu, MemoryMiB: 512,
		Kernel: kernel, Initrd: initrd,
		Append:  "console=ttyS0,115200 panic=-1 fetch=" + guestBase + "/boot/" + filepath.Base(squashfs) + " bty.server=" + guestBase + " bty.mac=" + vmMAC + " bty.token=" + m.Token,
		NICs:    []vm.NIC{{Netdev: "user", Device: "virtio-net-pci,mac=" + vmMAC}},
		Disks:   []vm.Disk{{Path: disk, Serial: "BTYTEST"}},
		Timeout: 180 * time.Second,
	})
	log := console.Tail(400)
	var last time.Duration
	for _, m := range []string{"bty-init: entered v", "bty-init: squashfs " + guestBase, "bty: entered v", "bty: auto-flash starting", "bty: download 100%", "bty: write 100%", "bty: flash complete; rebooting", "reboot: Restarting system"} {
		i, at := console.Find(0, m)
		if i < 0 {
			t.Fatalf("no %q on the console:\n%s", m, log)
		}
		if at < last {
			t.Errorf("%q came out of order", m)
		}
		last = at
	}
	t.Logf("%s: first bty: marker after %s, flash complete after %s, VM off after %s",
		vm.Accel(qemu, kernel), markerAt(console, "bty: entered v"), markerAt(console, "bty: flash complete"), time.Since(console.Start).Round(time.Millisecond))
	got, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(raw)], raw) {
		t.Errorf("the VM's disk does not hold the image")
	}
	resp, err := http.Get(base + "/pxe/" + vmMAC)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	script := ""
	for sc.Scan() {
		script += sc.Text() + "\n"
	}
	if !strings.Contains(script, "booting the local disk") {
		t.Errorf("after the flash bty-web does not send the machine to its disk:\n%s", script)
	}
}

func markerAt(c *vm.Console, marker string) time.Duration {
	_, at := c.Find(0, marker)
	return at.Round(time.Millisecond)
}
