// Package pxe_test is the end-to-end proof that every kind of machine a
// lab has PXE-boots from the artifacts Bazel built, flashes its own disk
// from bty-web, and reboots: an x86_64 UEFI machine (followed to
// "verified" on bty-web's machines page, open in headless Chromium; then
// one bound to an image with a wrong digest fails loudly), an x86_64 UEFI
// machine with Secure Boot on (shim, Debian's signed GRUB, bty-web's GRUB
// route), an arm64 UEFI machine (QEMU's virt board, AAVMF) and an x86_64
// BIOS machine (SeaBIOS, undionly.kpxe).
//
// Each test re-runs itself in a new network namespace (CLONE_NEWNET):
// there it builds a bridge and a tap with netlink and runs everything (DHCP,
// bty-tftp and bty-web from the release's container images, QEMU) on that
// private network. When the inner process ends, however it ends, the kernel
// removes the namespace with all its links: nothing is left to clean up and
// nothing from a killed run can linger.
package pxe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"

	"github.com/bty-lab/bty/bty/api"
	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/dhcpconf"
	"github.com/bty-lab/bty/bty/gpt"
	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/bty/seed"
	"github.com/bty-lab/bty/e2e/vm"
	"github.com/bty-lab/bty/internal/browser"
	"github.com/bty-lab/bty/internal/ocirun"
	"github.com/bty-lab/bty/internal/testenv"
)

const (
	clientMAC = "52:54:00:11:22:33"
	serverIP  = "10.99.0.1"
	clientIP  = "10.99.0.10"
	inside    = "BTY_PXE_INSIDE"
)

// lab is how a chain's servers are set up.
type lab struct {
	// port is bty-web's; bty-tftp is told bty-web's URL when it is not
	// the default 8080, and serves the chain scripts naming it.
	port int
	// secureBoot names the machine for Secure Boot in DHCP, as the
	// guide's dhcp-host line does: as an x86_64 UEFI machine it gets shim.
	secureBoot bool
	// romDHCP answers DHCP with the BIOS chain's stand-in for a stock PXE
	// ROM (see romDHCP) instead of dnsmasq.
	romDHCP bool
}

// TestPXEChain: an x86_64 UEFI machine (OVMF, the firmware's own PXE, as
// on real UEFI hardware) flashes its disk; then a wrong declared digest
// fails loudly.
func TestPXEChain(t *testing.T) {
	inNamespace(t, "TestPXEChain", lab{port: 8080}, func(t *testing.T, s *servers) {
		s.seed(t, "")
		ui := watchUI(t, s.base)
		s.flash(t, uefiX86(t, s.base), "flash")
		ui.verified(t)
		s.learnt(t, "x86_64", "efi")
		if s := string(s.api.do("GET", "/pxe/"+clientMAC, nil)); !strings.Contains(s, "booting the local disk") {
			t.Errorf("after the flash the machine is not sent to its disk:\n%s", s)
		}

		// A wrong declared digest: the flash fails and says so.
		var entry api.Registered
		body, _ := json.Marshal(api.CatalogEntry{Name: "bad-digest", Src: s.base + "/images/" + s.ref + "/test.img.zst", SHA256: strings.Repeat("0", 64)})
		json.Unmarshal(s.api.do("POST", "/catalog/entries", body), &entry)
		s.bind(t, entry.Ref)
		disk2 := blankDisk(t)
		con2 := boot(t, s.logs, "bad-digest", uefiX86(t, s.base), disk2)
		con2.Stages(t, vm.Literal("bty: auto-flash starting"), vm.Literal("UNVERIFIED"), vm.Literal("bty-init: bty auto failed"))
		if kinds := s.events(t); kinds["flash.failed"] == 0 {
			t.Errorf("bty-web recorded no flash.failed event (events: %v)", kinds)
		}
	})
}

// TestPXEChainSecureBoot: an x86_64 UEFI machine with Secure Boot on and
// Microsoft's keys enrolled, named for Secure Boot in DHCP as the README's
// rules have it, gets shim, which starts Debian's signed GRUB, which reads
// grub/grub.cfg over TFTP and bty-web's GRUB route over HTTP, and boots the
// same signed kernel; the kernel is locked down and flashes the disk.
// bty-web listens on port 8081 here: grub.cfg, as bty-tftp serves it,
// names that port.
func TestPXEChainSecureBoot(t *testing.T) {
	inNamespace(t, "TestPXEChainSecureBoot", lab{port: 8081, secureBoot: true}, func(t *testing.T, s *servers) {
		s.seed(t, "")
		con := s.flash(t, uefiX86SecureBoot(t, s.base), "flash-secureboot")
		s.learnt(t, "x86_64", "efi")
		if i, _ := con.FindStage(0, vm.Literal("bty-init: firmware UEFI, Secure Boot on, kernel lockdown integrity")); i < 0 {
			t.Error("bty-init did not report Secure Boot on and the kernel locked down")
		}
		con.AllModulesLoaded(t) // none refused by the locked-down kernel
	})
}

// TestPXEChainArm64: an arm64 UEFI machine (QEMU's virt board under TCG,
// Debian's AAVMF, virtio-net with the firmware's PXE) gets ipxe-arm64.efi
// by the DHCP rule for client architecture 11, and bty-web the arm64 trio
// because the chain script reports iPXE's ${buildarch}. bty-web listens
// on port 8082 here: autoexec.ipxe, as bty-tftp serves it, names that
// port.
func TestPXEChainArm64(t *testing.T) {
	inNamespace(t, "TestPXEChainArm64", lab{port: 8082}, func(t *testing.T, s *servers) {
		s.seed(t, "_ARM64")
		s.flash(t, uefiArm64(t, s.base), "flash-arm64")
		s.learnt(t, "arm64", "efi")
	})
}

// TestPXEChainBIOS: an x86_64 BIOS machine (SeaBIOS) loads undionly.kpxe
// through its NIC's PXE ROM; undionly.kpxe's own DHCP request (user class
// iPXE) gets bty-web's bootstrap script, not undionly.kpxe again.
func TestPXEChainBIOS(t *testing.T) {
	inNamespace(t, "TestPXEChainBIOS", lab{port: 8080, romDHCP: true}, func(t *testing.T, s *servers) {
		s.seed(t, "")
		s.flash(t, biosX86(t, s.base), "flash-bios")
		s.learnt(t, "x86_64", "pcbios")
	})
}

// uiWatch is Chromium showing bty-web's machines page while the machine
// flashes, as an operator would watch it, and what the machine's row
// showed.
type uiWatch struct {
	b    context.Context
	stop context.CancelFunc
	done chan struct{}
	mu   sync.Mutex
	seen []string // the flash states the row showed, in order, with when
}

const uiRow = "#m-52-54-00-11-22-33 td.flash"

// watchUI logs in to bty-web's web UI in headless Chromium and keeps the
// machines page open, noting each flash state the machine's row shows.
func watchUI(t *testing.T, base string) *uiWatch {
	chromium, err := browser.Path()
	testenv.Require(t, "Chromium", err)
	b, stop, err := browser.Start(context.Background(), chromium, browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := browser.Login(b, base, "test"); err != nil {
		t.Fatalf("logging in to the web UI: %v", err)
	}
	if err := chromedp.Run(b, chromedp.Evaluate(`window.btyNotReloaded = true`, nil)); err != nil {
		t.Fatal(err)
	}
	w := &uiWatch{b: b, stop: stop, done: make(chan struct{})}
	start := time.Now()
	go func() {
		for {
			select {
			case <-w.done:
				return
			case <-time.After(250 * time.Millisecond):
			}
			var state string
			js := `document.querySelector("` + uiRow + ` .state, ` + uiRow + ` .muted")?.innerText ?? "(no row)"`
			err := chromedp.Run(b, chromedp.Evaluate(js, &state))
			if err != nil {
				state = err.Error()
			}
			w.mu.Lock()
			if len(w.seen) == 0 || !strings.HasSuffix(w.seen[len(w.seen)-1], " "+state) {
				w.seen = append(w.seen, fmt.Sprintf("%.1fs %s", time.Since(start).Seconds(), state))
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// verified checks that the open page followed the flash to "verified"
// by itself, without a reload.
func (w *uiWatch) verified(t *testing.T) {
	defer w.stop()
	_, err := browser.WaitText(w.b, uiRow, "verified", 20*time.Second)
	close(w.done)
	w.mu.Lock()
	t.Logf("the web UI's machines page showed the machine's flash as %q", w.seen)
	w.mu.Unlock()
	if err != nil {
		t.Errorf("the web UI: %v", err)
	}
	var same bool
	if err := chromedp.Run(w.b, chromedp.Evaluate(`window.btyNotReloaded === true`, &same)); err != nil || !same {
		t.Errorf("the machines page was reloaded instead of following the flash (%v)", err)
	}
}

// inNamespace runs chain inside a new network namespace (the test binary
// re-runs itself there), with the network, DHCP, bty-tftp and bty-web up.
func inNamespace(t *testing.T, name string, l lab, chain func(*testing.T, *servers)) {
	if os.Getenv(inside) == name {
		total := time.Now()
		chain(t, start(t, l))
		t.Logf("whole %s in its namespace: %s", name, time.Since(total).Round(time.Millisecond))
		return
	}
	testenv.Require(t, "root (network namespaces, taps)", func() error {
		if os.Geteuid() != 0 {
			return fmt.Errorf("not root")
		}
		_, err := os.Stat("/dev/net/tun")
		return err
	}())
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), inside+"="+name)
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

// dhcpServer answers the lab's DHCP and says which boot files it
// acknowledged, in order.
type dhcpServer interface {
	acked(t *testing.T) []string
}

// dnsmasq is Debian's dnsmasq with exactly the rules bty/dhcpconf prints
// for operators (the web UI's setup page, the guide), after the lab's own
// lines: this network's one address, no DNS, and the fixes measured on
// these machines (each worth seconds under TCG): no ping probe before
// offering, and iPXE's option 175.176 = 1 so it does not wait for
// ProxyDHCP. A Secure Boot machine is named as the guide says, with a
// dhcp-host line.
type dnsmasq struct{ log string }

func startDnsmasq(t *testing.T, logs string, srv dhcpconf.Server, secureBoot bool) *dnsmasq {
	t.Helper()
	bin := testenv.Tool(t, "dnsmasq", "dnsmasq-base")
	dir := t.TempDir()
	lab := strings.Join([]string{
		"port=0",
		"interface=br0",
		"bind-interfaces",
		"dhcp-range=" + clientIP + "," + clientIP + ",255.255.255.0,1h",
		"dhcp-authoritative",
		"no-ping",
		"dhcp-option-force=encap:175,176,1",
		"dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"log-dhcp",
		"user=root",
		"",
	}, "\n")
	if secureBoot {
		lab += "dhcp-host=" + clientMAC + ",set:secureboot\n"
	}
	conf := filepath.Join(dir, "dnsmasq.conf")
	if err := os.WriteFile(conf, []byte(lab+srv.Dnsmasq()), 0o644); err != nil {
		t.Fatal(err)
	}
	// One log a chain: the chains share the test's outputs directory.
	d := &dnsmasq{log: filepath.Join(logs, t.Name()+"-dnsmasq.log")}
	cmd := exec.Command(bin, "--keep-in-foreground", "--conf-file="+conf, "--pid-file=", "--log-facility="+d.log)
	out, err := os.Create(filepath.Join(logs, t.Name()+"-dnsmasq.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dnsmasq: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); out.Close() })
	// Ready when it says so: its log's "DHCP, IP range" line comes after
	// the socket is bound.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		if bytes.Contains(b, []byte("DHCP, IP range "+clientIP)) {
			break
		}
		if time.Now().After(deadline) {
			o, _ := os.ReadFile(out.Name())
			t.Fatalf("dnsmasq did not start within 10 s:\n%s%s", b, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cp, _ := os.ReadFile(conf)
	t.Logf("dnsmasq runs with:\n%s", cp)
	return d
}

// dnsmasqLine is one line of dnsmasq's DHCP log (log-dhcp): the
// transaction and what it says ("DHCPACK(br0) ...", "sent size: 9 option:
// 67 bootfile-name  ipxe.efi" when the client asked for option 67,
// "bootfile name: ipxe.efi" when the file went in the BOOTP field).
var (
	dnsmasqLine = regexp.MustCompile(`dnsmasq-dhcp\[\d+\]: (\d+) (.*)$`)
	bootFileIn  = regexp.MustCompile(`^(?:sent size: *\d+ option: 67 bootfile-name +|bootfile name: )(\S+)`)
)

// acked reads the boot files dnsmasq acknowledged from its log: the boot
// file of each DHCPACK (dnsmasq logs a reply's options after its message
// line), once an acknowledgement.
func (d *dnsmasq) acked(t *testing.T) []string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	last := map[string]string{} // each transaction's last message, until its file is noted
	for _, line := range strings.Split(string(b), "\n") {
		m := dnsmasqLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		xid, msg := m[1], m[2]
		if strings.HasPrefix(msg, "DHCP") {
			last[xid], _, _ = strings.Cut(msg, "(")
		}
		if f := bootFileIn.FindStringSubmatch(msg); f != nil && last[xid] == "DHCPACK" {
			out = append(out, f[1])
			last[xid] = "noted"
		}
	}
	return out
}

// romDHCP stands in for dnsmasq on the BIOS chain, the one a rule-driven
// DHCP server cannot reproduce: QEMU's NIC option ROMs are iPXE builds
// and send user class iPXE from their first request, so by the rules a
// QEMU BIOS machine would be sent straight to the bootstrap URL and never
// load undionly.kpxe, which every real BIOS machine with a stock ROM
// (Intel's, Realtek's: no user class) does. SeaBIOS has no PXE of its own
// to use instead. So this server decides by bty/dhcpconf's table
// (Server.Decide), reading the ROM's first transaction as a stock ROM's,
// without the user class; everything after that is the table as is.
type romDHCP struct {
	srv dhcpconf.Server

	mu      sync.Mutex
	romXID  *dhcpv4.TransactionID
	handout []string // each boot file acknowledged, in order
}

func (d *romDHCP) bootFile(m *dhcpv4.DHCPv4) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.romXID == nil {
		d.romXID = &m.TransactionID
	}
	c := dhcpconf.Client{IPXE: string(m.Options.Get(dhcpv4.OptionUserClassInformation)) == "iPXE" && *d.romXID != m.TransactionID}
	if a := m.ClientArch(); len(a) > 0 {
		c.Arch = dhcpconf.Arch(a[0])
	}
	file, _ := d.srv.Decide(c)
	return file
}

func (d *romDHCP) serve(t *testing.T) {
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
		file := d.bootFile(m)
		reply, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.ParseIP(clientIP)),
			dhcpv4.WithServerIP(net.ParseIP(serverIP)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(serverIP))),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)),
			dhcpv4.WithOption(dhcpv4.OptBootFileName(file)),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(175), []byte{176, 1, 1})),
		)
		if err != nil {
			return
		}
		reply.BootFileName = file
		if typ == dhcpv4.MessageTypeAck {
			d.mu.Lock()
			d.handout = append(d.handout, file)
			d.mu.Unlock()
		}
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

func (d *romDHCP) acked(*testing.T) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.handout)
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

type apiClient struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (a apiClient) do(method, path string, body []byte) []byte {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(body))
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

// servers is the lab side of a chain: the network, the DHCP server and
// bty-tftp and bty-web from the images the release pushes.
type servers struct {
	logs string
	base string // bty-web, as machines reach it
	dhcp dhcpServer
	api  apiClient
	raw  []byte // the test image, decoded
	ref  string // its ref in bty-web
}

func start(t *testing.T, l lab) *servers {
	logs := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR")
	if logs == "" {
		logs = t.TempDir()
	}
	network(t)
	s := &servers{logs: logs, base: fmt.Sprintf("http://%s:%d", serverIP, l.port)}
	srv, err := dhcpconf.FromURL(s.base)
	if err != nil {
		t.Fatal(err)
	}
	if l.romDHCP {
		d := &romDHCP{srv: srv}
		d.serve(t)
		s.dhcp = d
	} else {
		s.dhcp = startDnsmasq(t, logs, srv, l.secureBoot)
	}

	// The servers are the container images the release pushes, run as a
	// runtime would (internal/ocirun): bty-tftp serves the iPXE files baked
	// into its image from its own entrypoint's arguments; bty-web keeps its
	// state in the image's volume. Like Docker, the namespace lets the
	// image's unprivileged user bind port 69.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0"), 0); err != nil {
		t.Fatalf("letting the images' user bind low ports in the test's namespace: %v", err)
	}
	var tftpEnv []string
	if l.port != 8080 {
		tftpEnv = append(tftpEnv, "BTY_TFTP_WEB_URL="+s.base)
	}
	startImage(t, logs, "bty-tftp", "BTY_OCI_TFTP", tftpEnv...)
	startImage(t, logs, "bty-web", "BTY_OCI_WEB", "BTY_SERVER_LISTEN="+serverIP, fmt.Sprintf("BTY_SERVER_PORT=%d", l.port), "BTY_ADMIN_PASSWORD=test")
	testenv.WaitHTTP(t, s.base+"/healthz")
	s.api = apiClient{t, testenv.Login(t, s.base, "test"), s.base}
	return s
}

// seed gives bty-web, through its API only as an operator would, the
// netboot trio whose files' environment variables end in suffix ("" for
// x86_64, "_ARM64"), a test image, and binds the machine to it.
func (s *servers) seed(t *testing.T, suffix string) {
	for _, env := range []string{"BTY_VMLINUZ", "BTY_INITRD", "BTY_SQUASHFS"} {
		path := runfile(t, env+suffix)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s.api.do("PUT", "/boot/"+filepath.Base(path), b)
	}
	s.raw = imagetest.GPTDisk(t, 8<<20, 21) // partitioned, as an OS image is: the seed goes after it
	var up api.Uploaded
	json.Unmarshal(s.api.do("PUT", "/images/test.img.zst", imagetest.Encode(t, catalog.Zstd, s.raw)), &up)
	s.ref = up.Ref
	s.bind(t, up.Ref)
}

func (s *servers) bind(t *testing.T, ref string) {
	body, _ := json.Marshal(provision.Settings{BootMode: "bty-flash-always", ImageRef: ref, TargetDiskSerial: "BTYTEST"})
	s.api.do("PUT", "/machines/"+clientMAC, body)
}

func (s *servers) events(t *testing.T) map[string]int {
	var ev []struct{ Kind, MAC string }
	json.Unmarshal(s.api.do("GET", "/events?limit=10000", nil), &ev)
	kinds := map[string]int{}
	for _, e := range ev {
		kinds[e.Kind]++
	}
	return kinds
}

// seeded checks the flashed disk's cloud-init seed (a CIDATA partition
// after the image's, holding this deployment's meta-data) and that
// bty-web now waits for the installed system to phone home.
func (s *servers) seeded(t *testing.T, disk []byte) {
	tab, err := gpt.Read(bytes.NewReader(disk))
	if err != nil || len(tab.Partitions) != 2 || tab.Partitions[1].Name != seed.Label {
		t.Errorf("the flashed disk's table: %+v, %v; want the image's partition and the seed", tab, err)
		return
	}
	var m provision.Machine
	json.Unmarshal(s.api.do("GET", "/machines/"+clientMAC, nil), &m)
	vol := disk[tab.Partitions[1].First*512 : (tab.Partitions[1].Last+1)*512]
	want := "instance-id: " + m.Deployment.InstanceID + "\nlocal-hostname: bty-" + strings.ReplaceAll(clientMAC, ":", "")
	if state, _ := m.Lifecycle(); !bytes.Contains(vol, []byte(want)) || state != "rebooting" {
		t.Errorf("the seed lacks %q, or bty-web shows %q, not rebooting", want, state)
	}
}

// learnt checks what bty-web learnt of the machine from its boot.
func (s *servers) learnt(t *testing.T, arch, firmware string) {
	var machine struct{ Arch, Firmware string }
	json.Unmarshal(s.api.do("GET", "/machines/"+clientMAC, nil), &machine)
	if machine.Arch != arch || machine.Firmware != firmware {
		t.Errorf("bty-web learnt arch %q, firmware %q from the boot; want %s, %s", machine.Arch, machine.Firmware, arch, firmware)
	}
}

// client is one kind of machine: how QEMU runs it, and the stages its
// firmware and iPXE show before bty-web's bootstrap script runs.
type client struct {
	opts   vm.Options
	stages []vm.Stage
	// files are the boot files the DHCP server must have handed out, in
	// order: the firmware's, then iPXE's own.
	files []string
}

func uefiX86(t *testing.T, base string) client {
	code, vars, err := vm.OVMF()
	testenv.Require(t, "OVMF", err)
	return uefi(vm.Options{
		QEMU:     testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86"),
		OVMFCode: code, OVMFVars: vars,
		ProbeKernel: runfile(t, "BTY_VMLINUZ"),
	}, base, dhcpconf.FileIPXE)
}

func uefiArm64(t *testing.T, base string) client {
	code, vars, err := vm.AAVMF()
	testenv.Require(t, "AAVMF", err)
	return uefi(vm.Options{
		QEMU:     testenv.Tool(t, "qemu-system-aarch64", "qemu-system-arm"),
		Arch:     "aarch64",
		OVMFCode: code, OVMFVars: vars,
	}, base, dhcpconf.FileIPXEArm64)
}

// uefi is a UEFI machine booting its firmware's own PXE, which loads the
// iPXE binary bootFile and, through it, autoexec.ipxe.
func uefi(o vm.Options, base, bootFile string) client {
	// romfile= drops QEMU's iPXE option ROM: the firmware's own PXE boots,
	// as on real UEFI hardware.
	o.NICs = []vm.NIC{{Netdev: tapNetdev, Device: "virtio-net-pci,mac=" + clientMAC + ",romfile="}}
	return client{
		opts:   o,
		stages: append([]vm.Stage{vm.Literal(">>Start PXE over IPv4"), vm.Literal("iPXE"), vm.Literal("bty: iPXE")}, ipxeStages...),
		files:  []string{bootFile, base + "/pxe-bootstrap.ipxe"},
	}
}

// ipxeStages: iPXE runs bty-web's bootstrap, then the machine's script,
// and loads the kernel and initrd.
var ipxeStages = []vm.Stage{
	vm.Literal("pxe-bootstrap.ipxe"),
	vm.Literal("/pxe/52-54-00-11-22-33"),
	vm.Download(".vmlinuz"),
	vm.Download(".initrd"),
}

// uefiX86SecureBoot is an x86_64 UEFI machine with Secure Boot on and
// Microsoft's keys enrolled: its firmware's PXE loads shim, shim loads
// GRUB (it says so), GRUB runs grub/grub.cfg (which says so) and then
// bty-web's GRUB script; the kernel says Secure Boot is on, and bty-init
// that the kernel is locked down.
func uefiX86SecureBoot(t *testing.T, base string) client {
	code, vars, err := vm.OVMFSecureBoot()
	testenv.Require(t, "OVMF with Secure Boot", err)
	c := uefiX86(t, base)
	c.opts.OVMFCode, c.opts.OVMFVars, c.opts.SecureBoot = code, vars, true
	c.stages = []vm.Stage{
		vm.Literal(">>Start PXE over IPv4"),
		vm.Literal("NBP filename is shimx64.efi"),
		vm.Literal("Fetching Netboot Image grubx64.efi"),
		vm.Literal("bty: GRUB x86_64-efi; " + clientMAC + " got " + clientIP + "; next-server " + serverIP),
		vm.Literal("bty: " + clientMAC + ": booting the bty live environment (flash)"),
		vm.Literal("secureboot: Secure boot enabled"),
	}
	c.files = []string{dhcpconf.FileShim}
	return c
}

func biosX86(t *testing.T, base string) client {
	return client{
		opts: vm.Options{
			QEMU:        testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86"),
			ProbeKernel: runfile(t, "BTY_VMLINUZ"),
			// QEMU's NIC option ROM is the PXE ROM; SeaBIOS boots it first.
			NICs: []vm.NIC{{Netdev: tapNetdev, Device: "virtio-net-pci,mac=" + clientMAC + ",bootindex=1"}},
		},
		stages: append([]vm.Stage{
			vm.Literal("SeaBIOS"),
			vm.Literal("Booting from ROM"),
			vm.Download(dhcpconf.FileUndionly),
			vm.Literal("using undionly"),
			vm.Download("pxe-bootstrap.ipxe"),
		}, ipxeStages[1:]...),
		files: []string{dhcpconf.FileUndionly, base + "/pxe-bootstrap.ipxe"},
	}
}

const tapNetdev = "tap,ifname=tap0,script=no,downscript=no"

func blankDisk(t *testing.T) string {
	disk := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(disk, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return disk
}

// boot PXE-boots the client until QEMU exits (it reboots with -no-reboot)
// and returns its console.
func boot(t *testing.T, logs, name string, c client, disk string) *vm.Console {
	t.Helper()
	f, err := os.Create(filepath.Join(logs, name+"-serial.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o := c.opts
	o.Disks = []vm.Disk{{Path: disk, Serial: "BTYTEST"}}
	o.Timeout = 240 * time.Second
	o.Serial = f
	con := vm.Run(t, name, o)
	t.Logf("%s: QEMU ran %s", name, time.Since(con.Start).Round(time.Millisecond))
	return con
}

// flash boots the client through the whole chain onto a blank disk and
// checks every stage, the boot files DHCP handed out, bty-web's events and
// the flashed bytes. It returns the machine's console.
func (s *servers) flash(t *testing.T, c client, name string) *vm.Console {
	disk := blankDisk(t)
	con := boot(t, s.logs, name, c, disk)
	stages := append(slices.Clone(c.stages),
		vm.Literal("bty-init: entered v"),
		vm.Literal("bty-init: squashfs "+s.base+"/boot/"),
		vm.Literal("bty: entered v"),
		vm.Literal("bty: auto-flash starting"),
		vm.Literal("bty: write 100%"),
		vm.Literal("bty: cloud-init seed written: partition 2 (CIDATA"),
		vm.Literal("bty: flash complete; rebooting"),
		vm.Literal("reboot: Restarting system"),
	)
	timeline := con.Stages(t, stages...)
	t.Logf("%s timeline (QEMU start = 0):\n%s", name, timeline)
	if got := s.dhcp.acked(t); !slices.Equal(got[:min(len(got), len(c.files))], c.files) {
		t.Errorf("DHCP handed out boot files %q; want %q first", got, c.files)
	}
	got, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	// The image's partition, byte for byte; its tables are the seed's now.
	part := func(b []byte) []byte { return b[1<<20 : len(s.raw)-1<<20] }
	if !bytes.Equal(part(got), part(s.raw)) {
		t.Error("the client disk does not hold the image")
	}
	s.seeded(t, got)
	kinds := s.events(t)
	for _, k := range []string{"pxe.offer", "flash.armed", "flash.done"} {
		if kinds[k] == 0 {
			t.Errorf("bty-web recorded no %s event (events: %v)", k, kinds)
		}
	}
	return con
}
