package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bty-lab/bty/internal/testenv"
)

// startWeb runs the real binary on a free port and waits for /healthz.
func startWeb(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	bin := testenv.Binary(t, "BTY_WEB_BINARY", "github.com/bty-lab/bty/bty/cmd/bty-web")
	port := testenv.FreePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "BTY_PATHS_STATE_DIR="+dir, "BTY_SERVER_LISTEN=127.0.0.1", fmt.Sprintf("BTY_SERVER_PORT=%d", port), "BTY_ADMIN_PASSWORD=pw")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitHTTP(t, base+"/healthz")
	return cmd, base
}

// startUpload logs in and begins a PUT of size bytes to path on a raw
// connection, sending only the headers: the caller sends the body (or not).
func startUpload(t *testing.T, base, path string, size int) net.Conn {
	t.Helper()
	c := testenv.Login(t, base, "pw")
	u, _ := url.Parse(base)
	var cookie string
	for _, k := range c.Jar.Cookies(u) {
		cookie = k.String()
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Length: %d\r\n\r\n", path, u.Host, cookie, size)
	return conn
}

// SIGTERM during an upload: the server waits for it, it completes, the file
// is whole, no .partial is left, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	cmd, base := startWeb(t, dir)
	const size = 1 << 20
	conn := startUpload(t, base, "/boot/slow", size)
	conn.Write(make([]byte, size/2))
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	conn.Write(make([]byte, size/2))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the in-flight upload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"size_bytes":1048576`) {
		t.Errorf("in-flight upload during shutdown = %d %s", resp.StatusCode, body)
	}
	conn.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("bty-web exited with %v after SIGTERM", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "boot", "slow")); err != nil || st.Size() != size {
		t.Errorf("uploaded file: %v", err)
	}
	if partials, _ := filepath.Glob(filepath.Join(dir, "boot", "*.partial")); len(partials) > 0 {
		t.Errorf("partial files left: %v", partials)
	}
}

// A partial file left by a crash (SIGKILL mid-upload) is removed at start.
func TestCrashLeavesNoPartial(t *testing.T) {
	dir := t.TempDir()
	cmd, base := startWeb(t, dir)
	conn := startUpload(t, base, "/boot/crash", 1000000)
	conn.Write(make([]byte, 1000))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p, _ := filepath.Glob(filepath.Join(dir, "boot", "*.partial")); len(p) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("upload did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	conn.Close()
	startWeb(t, dir)
	if p, _ := filepath.Glob(filepath.Join(dir, "boot", "*")); len(p) != 0 {
		t.Errorf("after restart the boot dir holds %v", p)
	}
}
