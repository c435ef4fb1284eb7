// Command bench measures bty-web with wrk on loopback:
//
//	tools/bazel run //e2e/web/bench [-- -duration 10s -connections 32]
//
// It starts the real bty-web binary on a free port with a temporary state
// dir, uploads a 50 MiB boot file through the API, and reports requests/s
// and p99 latency of GET /pxe/{mac} (each request a transaction: machine
// state plus an audit event) and the throughput of GET /boot/<50 MiB file>.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"time"

	"github.com/bazelbuild/rules_go/go/runfiles"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "length of each wrk run")
	conns := flag.Int("connections", 32, "concurrent connections")
	flag.Parse()
	if err := run(*duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(duration time.Duration, conns int) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return fmt.Errorf("wrk not found (apt-get install wrk): %w", err)
	}
	bin, err := runfiles.Rlocation(os.Getenv("BTY_WEB_BINARY"))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bty-web-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "BTY_PATHS_STATE_DIR="+dir, "BTY_SERVER_LISTEN=127.0.0.1", fmt.Sprintf("BTY_SERVER_PORT=%d", port), "BTY_ADMIN_PASSWORD=bench")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHealthy(base); err != nil {
		return err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(base+"/ui/login", url.Values{"password": {"bench"}})
	if err != nil || len(resp.Cookies()) == 0 {
		return fmt.Errorf("login failed: %v", err)
	}
	cookie := resp.Cookies()[0]
	req, _ := http.NewRequest("PUT", base+"/boot/bench.squashfs", bytes.NewReader(make([]byte, 50<<20)))
	req.AddCookie(cookie)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("upload failed: %v %v", err, resp)
	}

	pxe, err := wrkRun(wrk, duration, conns, base+"/pxe/52:54:00:11:22:33")
	if err != nil {
		return err
	}
	boot, err := wrkRun(wrk, duration, 4, base+"/boot/bench.squashfs")
	if err != nil {
		return err
	}
	fmt.Printf("GET /pxe/{mac}: %s requests/s, p99 %s (%d connections, %s)\n", pxe.rps, pxe.p99, conns, duration)
	fmt.Printf("GET /boot/<50 MiB>: %s requests/s, transfer %s/s (4 connections, %s)\n", boot.rps, boot.transfer, duration)
	return nil
}

type result struct{ rps, p99, transfer string }

var (
	rpsRe      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re      = regexp.MustCompile(`\s99%\s+([0-9.]+[a-z]+)`)
	transferRe = regexp.MustCompile(`Transfer/sec:\s+([0-9.]+[KMG]?B)`)
)

func wrkRun(wrk string, d time.Duration, conns int, u string) (result, error) {
	out, err := exec.Command(wrk, "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", u).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	fmt.Printf("$ wrk %s\n%s\n", u, out)
	var r result
	for _, m := range []struct {
		re  *regexp.Regexp
		dst *string
	}{{rpsRe, &r.rps}, {p99Re, &r.p99}, {transferRe, &r.transfer}} {
		if s := m.re.FindSubmatch(out); s != nil {
			*m.dst = string(s[1])
		}
	}
	return r, nil
}

func waitHealthy(base string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("bty-web did not become healthy")
}
