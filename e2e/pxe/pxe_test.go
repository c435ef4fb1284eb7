// Package pxe_test is the end-to-end proof: a UEFI machine in QEMU
// PXE-boots from the artifacts Bazel built, flashes its own disk from
// bty-web, and reboots; then a machine bound to an image with a wrong
// digest fails loudly.
//
// The test re-runs itself in a new network namespace (CLONE_NEWNET): there
// it builds a bridge and a tap with netlink and runs everything (DHCP,
// bty-tftp, bty-web, QEMU) on that private network. When the inner process
// ends, however it ends, the kernel removes the namespace with all its
// links: nothing is left to clean up and nothing from a killed run can
// linger.
package pxe_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/e2e/vm"
	"github.com/bty-lab/bty/internal/ocirun"
	"github.com/bty-lab/bty/internal/testenv"
)

const (
	clientMAC = "52:54:00:11:22:33"
	serverIP  = "10.99.0.1"
	clientIP  = "10.99.0.10"
	base      = "http://" + serverIP + ":8080"
	inside    = "BTY_PXE_INSIDE"
)

func TestPXEChain(t *testing.T) {
	if os.Getenv(inside) != "" {
		chain(t)
		return
	}
	testenv.Require(t, "root (network namespaces, taps)", func() error {
		if os.Geteuid() != 0 {
			return fmt.Errorf("not root")
		}
		_, err := os.Stat("/dev/net/tun")
		return err
	}())
	cmd := exec.Command(os.Args[0], "-test.run=^TestPXEChain$", "-test.v")
	cmd.Env = append(os.Environ(), inside+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the chain inside its network namespace failed: %v", err)
	}
}

func runfile(t *testing.T, env string) string {
	t.Helper()
	return testenv.Runfile(t, env, "//e2e/pxe:pxe_test")
}

// network makes lo, a bridge with the server address and a tap for QEMU.
func network(t *testing.T) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(lo)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	addr, _ := netlink.ParseAddr(serverIP + "/24")
	if err := netlink.AddrAdd(br, addr); err != nil {
		t.Fatal(err)
	}
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tap0", MasterIndex: br.Attrs().Index}, Mode: netlink.TUNTAP_MODE_TAP,
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR | netlink.TUNTAP_ONE_QUEUE}
	if err := netlink.LinkAdd(tap); err != nil {
		t.Fatalf("tap: %v", err)
	}
	for _, l := range []netlink.Link{br, tap} {
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// dhcpServer answers every client on br0 with clientIP and ipxe.efi, with
// the fixes E2E.md measured: no ping probe before offering, and iPXE's
// option 175.176 = 1 so it does not wait for ProxyDHCP.
func dhcpServer(t *testing.T) {
	t.Helper()
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		var typ dhcpv4.MessageType
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			typ = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
		default:
			return
		}
		reply, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.ParseIP(clientIP)),
			dhcpv4.WithServerIP(net.ParseIP(serverIP)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(serverIP))),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)),
			dhcpv4.WithOption(dhcpv4.OptBootFileName("ipxe.efi")),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(175), []byte{176, 1, 1})),
		)
		if err != nil {
			return
		}
		reply.BootFileName = "ipxe.efi"
		dst := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
		conn.WriteTo(reply.ToBytes(), dst)
	}
	srv, err := server4.NewServer("br0", &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, handler)
	if err != nil {
		t.Fatalf("DHCP server: %v", err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
}

// startImage runs the linux/amd64 image of an oci_index target (its
// outputs in the environment variable env) with extra environment,
// logging to a file, and stops it at cleanup.
func startImage(t *testing.T, logs, name, env string, extra ...string) {
	t.Helper()
	f, err := os.Create(filepath.Join(logs, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	img := ocirun.Platform(t, ocirun.Open(t, testenv.Runfiles(t, env, "//e2e/pxe:pxe_test")), "amd64")
	cmd := ocirun.Command(t, img, nil, extra...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); f.Close() })
}

type api struct {
	t *testing.T
	c *http.Client
}

func (a api) do(method, path string, body []byte) []byte {
	a.t.Helper()
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return b
}

// boot PXE-boots the client until QEMU exits (it reboots with -no-reboot)
// and returns its console.
func boot(t *testing.T, logs, name, disk string) *vm.Console {
	t.Helper()
	code, vars, err := vm.OVMF()
	testenv.Require(t, "OVMF", err)
	f, err := os.Create(filepath.Join(logs, name+"-serial.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	con := vm.Run(t, name, vm.Options{
		QEMU:     testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86"),
		OVMFCode: code, OVMFVars: vars,
		ProbeKernel: runfile(t, "BTY_VMLINUZ"),
		// romfile= drops QEMU's iPXE option ROM: the firmware's own PXE
		// boots, as on real UEFI hardware.
		NICs:    []vm.NIC{{Netdev: "tap,ifname=tap0,script=no,downscript=no", Device: "virtio-net-pci,mac=" + clientMAC + ",romfile="}},
		Disks:   []vm.Disk{{Path: disk, Serial: "BTYTEST"}},
		Timeout: 150 * time.Second,
		Serial:  f,
	})
	t.Logf("%s: QEMU ran %s", name, time.Since(con.Start).Round(time.Millisecond))
	return con
}

func events(t *testing.T, a api) map[string]int {
	var ev []struct{ Kind, MAC string }
	json.Unmarshal(a.do("GET", "/events?limit=10000", nil), &ev)
	kinds := map[string]int{}
	for _, e := range ev {
		kinds[e.Kind]++
	}
	return kinds
}

func chain(t *testing.T) {
	total := time.Now()
	logs := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR")
	if logs == "" {
		logs = t.TempDir()
	}
	network(t)
	dhcpServer(t)

	// The servers are the container images the release pushes, run as a
	// runtime would (internal/ocirun): bty-tftp serves the iPXE files baked
	// into its image from its own entrypoint's arguments; bty-web keeps its
	// state in the image's volume. Like Docker, the namespace lets the
	// image's unprivileged user bind port 69.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0"), 0); err != nil {
		t.Fatalf("letting the images' user bind low ports in the test's namespace: %v", err)
	}
	startImage(t, logs, "bty-tftp", "BTY_OCI_TFTP")
	startImage(t, logs, "bty-web", "BTY_OCI_WEB", "BTY_SERVER_LISTEN="+serverIP, "BTY_SERVER_PORT=8080", "BTY_ADMIN_PASSWORD=test")
	testenv.WaitHTTP(t, base+"/healthz")

	// Seed bty-web as an operator would, through its API only.
	a := api{t, testenv.Login(t, base, "test")}
	for _, env := range []string{"BTY_VMLINUZ", "BTY_INITRD", "BTY_SQUASHFS"} {
		b, err := os.ReadFile(runfile(t, env))
		if err != nil {
			t.Fatal(err)
		}
		a.do("PUT", "/boot/"+filepath.Base(runfile(t, env)), b)
	}
	raw := imagetest.Disk(8<<20, 21)
	img := imagetest.Encode(t, catalog.Zstd, raw)
	var up struct{ Ref, SHA256 string }
	json.Unmarshal(a.do("PUT", "/images/test.img.zst", img), &up)
	bind := func(ref string) {
		body, _ := json.Marshal(map[string]any{"boot_mode": "bty-flash-always", "bty_image_ref": ref, "target_disk_serial": "BTYTEST"})
		a.do("PUT", "/machines/"+clientMAC, body)
	}
	bind(up.Ref)

	// 1. The chain flashes the disk.
	disk := filepath.Join(t.TempDir(), "disk.raw")
	os.WriteFile(disk, make([]byte, 64<<20), 0o644)
	con := boot(t, logs, "flash", disk)
	timeline := con.Stages(t,
		vm.Literal(">>Start PXE over IPv4"),
		vm.Literal("iPXE"),
		vm.Literal("bty: iPXE"),
		vm.Literal("pxe-bootstrap.ipxe"),
		vm.Literal("/pxe/52-54-00-11-22-33"),
		vm.Download(".vmlinuz"),
		vm.Download(".initrd"),
		vm.Literal("bty-init: entered v"),
		vm.Literal("bty-init: squashfs "+base+"/boot/"),
		vm.Literal("bty: entered v"),
		vm.Literal("bty: auto-flash starting"),
		vm.Literal("bty: write 100%"),
		vm.Literal("bty: flash complete; rebooting"),
		vm.Literal("reboot: Restarting system"),
	)
	t.Logf("flash run timeline (QEMU start = 0):\n%s", timeline)
	got, _ := os.ReadFile(disk)
	if !bytes.Equal(got[:len(raw)], raw) {
		t.Error("the client disk does not hold the image")
	}
	// The chain script told bty-web what the machine is.
	var machine struct{ Arch, Firmware string }
	json.Unmarshal(a.do("GET", "/machines/"+clientMAC, nil), &machine)
	if machine.Arch != "x86_64" || machine.Firmware != "efi" {
		t.Errorf("bty-web learnt arch %q, firmware %q from the boot; want x86_64, efi", machine.Arch, machine.Firmware)
	}
	kinds := events(t, a)
	for _, k := range []string{"pxe.offer", "flash.armed", "flash.done"} {
		if kinds[k] == 0 {
			t.Errorf("bty-web recorded no %s event (events: %v)", k, kinds)
		}
	}
	if s := string(a.do("GET", "/pxe/"+clientMAC, nil)); !strings.Contains(s, "booting the local disk") {
		t.Errorf("after the flash the machine is not sent to its disk:\n%s", s)
	}

	// 2. A wrong declared digest: the flash fails and says so.
	var entry struct{ Ref string }
	body, _ := json.Marshal(map[string]string{"name": "bad-digest", "src": base + "/images/" + up.Ref + "/test.img.zst", "sha256": strings.Repeat("0", 64)})
	json.Unmarshal(a.do("POST", "/catalog/entries", body), &entry)
	bind(entry.Ref)
	disk2 := filepath.Join(t.TempDir(), "disk2.raw")
	os.WriteFile(disk2, make([]byte, 64<<20), 0o644)
	con2 := boot(t, logs, "bad-digest", disk2)
	con2.Stages(t, vm.Literal("bty: auto-flash starting"), vm.Literal("UNVERIFIED"), vm.Literal("bty-init: bty auto failed"))
	if kinds := events(t, a); kinds["flash.failed"] == 0 {
		t.Errorf("bty-web recorded no flash.failed event (events: %v)", kinds)
	}
	t.Logf("whole test in its namespace: %s", time.Since(total).Round(time.Millisecond))
}
