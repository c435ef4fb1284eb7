package tftp

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pintftp "github.com/pin/tftp/v3"

	"github.com/bty-lab/bty/bty/imagetest"
	"github.com/bty-lab/bty/internal/testenv"
)

// serve starts a server over a temp dir holding ipxe.efi (1 MiB and a bit,
// so transfers span many blocks) and returns its address and the content.
func serve(t *testing.T) (addr string, content []byte, dir string) {
	t.Helper()
	return serveWith(t, Options{})
}

// serveWith is serve with opts.
func serveWith(t *testing.T, opts Options) (addr string, content []byte, dir string) {
	t.Helper()
	addr, content, dir, _ = serveLogged(t, opts)
	return addr, content, dir
}

// logLines is a log destination that hands each line to a channel (and
// drops lines nobody reads past its buffer).
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

// serveLogged is serveWith that also returns the server's log lines.
func serveLogged(t *testing.T, opts Options) (addr string, content []byte, dir string, log logLines) {
	t.Helper()
	log = make(logLines, 1024)
	dir = t.TempDir()
	content = imagetest.Disk(1<<20+123, 5)
	if err := os.WriteFile(filepath.Join(dir, "ipxe.efi"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "autoexec.ipxe"), []byte("#!ipxe\n"), 0o644)
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link"))
	s, err := New(dir, slog.New(slog.NewTextHandler(log, nil)), opts)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	t.Cleanup(s.Shutdown)
	return conn.LocalAddr().String(), content, dir, log
}

func fetch(addr, name string, blksize int) ([]byte, int64, error) {
	c, err := pintftp.NewClient(addr)
	if err != nil {
		return nil, 0, err
	}
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(true)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, 0, err
	}
	size, _ := wt.(pintftp.IncomingTransfer).Size()
	var b bytes.Buffer
	_, err = wt.WriteTo(&b)
	return b.Bytes(), size, err
}

func TestFetch(t *testing.T) {
	addr, content, _ := serve(t)
	for _, blk := range []int{0, 1428, 8192} {
		got, size, err := fetch(addr, "ipxe.efi", blk)
		if err != nil {
			t.Fatalf("blksize %d: %v", blk, err)
		}
		if !bytes.Equal(got, content) || size != int64(len(content)) {
			t.Errorf("blksize %d: got %d bytes (tsize %d), want %d", blk, len(got), size, len(content))
		}
	}
	if got, _, err := fetch(addr, "sub/autoexec.ipxe", 0); err != nil || string(got) != "#!ipxe\n" {
		t.Errorf("subdirectory file: %q, %v", got, err)
	}
	// GRUB asks for its config from the root: "/grub/grub.cfg".
	if got, _, err := fetch(addr, "/sub/autoexec.ipxe", 0); err != nil || string(got) != "#!ipxe\n" {
		t.Errorf("a name from the root (/sub/...): %q, %v", got, err)
	}
}

func TestRefusals(t *testing.T) {
	addr, _, _ := serve(t)
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "/../x", "/", "sub/../../x", "a\\b", "missing", "sub", "link"} {
		if _, _, err := fetch(addr, name, 0); err == nil {
			t.Errorf("fetching %q succeeded", name)
		}
	}
	c, _ := pintftp.NewClient(addr)
	rf, err := c.Send("new", "octet")
	if err == nil {
		_, err = rf.ReadFrom(bytes.NewReader([]byte("data")))
	}
	if err == nil {
		t.Error("a write request succeeded")
	}
}

// A TFTP client from Debian (atftp) fetches with blksize and tsize
// negotiation.
func TestDebianClient(t *testing.T) {
	atftp := testenv.Tool(t, "atftp", "atftp")
	addr, content, _ := serve(t)
	host, port, _ := net.SplitHostPort(addr)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(atftp, "--option", "blksize 1428", "--option", "tsize 0", "-g", "-r", "ipxe.efi", "-l", out, host, port)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("atftp: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("atftp got %d bytes, want %d (%v)", len(got), len(content), err)
	}
	cmd = exec.Command(atftp, "-g", "-r", "../../etc/passwd", "-l", filepath.Join(t.TempDir(), "x"), host, port)
	if b, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("atftp fetched a traversal: %s", b)
	}
}

// Concurrent transfers are bounded: requests beyond the bound get a "busy"
// error at once instead of taking more file descriptors (issue 18: 14,000
// requests exhausted them and real clients got "not found").
func TestTransfersBounded(t *testing.T) {
	addr, content, _, log := serveLogged(t, Options{MaxTransfers: 2})
	// Two requests that are never acknowledged hold their transfers open
	// while the server waits for ACKs.
	for range 2 {
		hold(t, "127.0.0.1", addr)
	}
	_, _, err := fetch(addr, "ipxe.efi", 0)
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("a third transfer: err = %v, want busy", err)
	}
	// The server gives up on each held transfer (its log says so) within
	// about 4 s (1 s a try, 4 tries), not the 30 s a spoofed request held a
	// slot before (issue 31); then clients are served again.
	deadline := time.After(8 * time.Second)
	for gaveUp := 0; gaveUp < 2; {
		select {
		case line := <-log:
			if strings.Contains(line, "tftp transfer failed") {
				gaveUp++
			}
		case <-deadline:
			t.Fatalf("the server gave up on %d of the 2 held transfers within 8 s", gaveUp)
		}
	}
	if got, _, err := fetch(addr, "ipxe.efi", 0); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("refused after the held transfers timed out: %v", err)
	}
}

// hold sends a read request from a new socket on ip and never acknowledges
// it: the transfer stays in flight until it times out.
func hold(t *testing.T, ip, addr string) {
	t.Helper()
	server, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.WriteTo(append([]byte{0, 1}, "ipxe.efi\x00octet\x00"...), server)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadFrom(make([]byte, 1024)); err != nil {
		t.Fatalf("no first data block for a held transfer: %v", err)
	}
}

// One address cannot take every transfer: past MaxPerPeer its requests are
// refused while another address is served (issue 31: no per-peer cap).
func TestTransfersBoundedPerPeer(t *testing.T) {
	addr, content, _ := serveWith(t, Options{MaxPerPeer: 3})
	for range 3 {
		hold(t, "127.0.0.2", addr)
	}
	// A fourth request from 127.0.0.2 gets an ERROR packet (opcode 5).
	server, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteTo(append([]byte{0, 1}, "ipxe.efi\x00octet\x00"...), server)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply := make([]byte, 1024)
	n, _, err := c.ReadFrom(reply)
	if err != nil || n < 4 || reply[1] != 5 || !strings.Contains(string(reply[4:n]), "from this address") {
		t.Errorf("a fourth transfer from 127.0.0.2: %q, %v; want an error packet, busy for this address", reply[:max(n, 0)], err)
	}
	// 127.0.0.1 is served meanwhile.
	if got, _, err := fetch(addr, "ipxe.efi", 0); err != nil || !bytes.Equal(got, content) {
		t.Errorf("a transfer from another address: %v", err)
	}
}

// An error other than a missing file says what it is.
func TestErrorsSayWhatTheyAre(t *testing.T) {
	addr, _, _ := serve(t)
	if _, _, err := fetch(addr, "missing", 0); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing file: err = %v", err)
	}
	if _, _, err := fetch(addr, "link", 0); err == nil || strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "escapes") {
		t.Errorf("symlink out of the root: err = %v, want it named as escaping, not 'not found'", err)
	}
}
