// Package remotecache runs a real Bazel remote cache (bazel-remote) on
// loopback and Bazel builds against it, and reads what each build did from
// Bazel's own summary. The cache benchmark (//tools/cachebench) and the
// cache tests use it.
package remotecache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bty-lab/bty/internal/freeport"
)

// Server is a running bazel-remote.
type Server struct {
	Dir     string // its store
	GRPC    string // grpc://127.0.0.1:PORT
	HTTP    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	log     bytes.Buffer
	stopped bool
}

// Start runs bazel-remote (the binary bin) on loopback with an empty store
// in dir, and waits until it answers.
func Start(bin, dir string) (*Server, error) {
	grpcPort, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	httpPort, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, GRPC: fmt.Sprintf("grpc://127.0.0.1:%d", grpcPort), HTTP: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	s.cmd = exec.Command(bin, "--dir", dir, "--max_size", "20", "--host", "127.0.0.1",
		"--port", strconv.Itoa(httpPort), "--grpc_port", strconv.Itoa(grpcPort))
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting bazel-remote: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.Status(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("bazel-remote did not answer on %s within 30 s:\n%s", s.HTTP, s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends the server; it may be called again.
func (s *Server) Stop() {
	if s.cmd.Process != nil && !s.stopped {
		s.stopped = true
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Status is bazel-remote's /status.
type Status struct {
	CurrSize         int64
	UncompressedSize int64
	NumFiles         int64
}

// Status asks the server how much it stores.
func (s *Server) Status() (Status, error) {
	var st Status
	resp, err := http.Get(s.HTTP + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// Stats is what one build did, from Bazel's closing summary line
// "INFO: N processes: A remote cache hit, B internal, C linux-sandbox.".
type Stats struct {
	Processes int
	// ByKind counts processes by how they ran: "remote cache hit",
	// "internal" (Bazel's own bookkeeping, never cacheable), and local
	// strategies such as "linux-sandbox", "processwrapper-sandbox",
	// "local", "worker", "disk cache hit".
	ByKind  map[string]int
	Elapsed time.Duration
}

var summary = regexp.MustCompile(`(?m)^INFO: (\d+) process(?:es)?(?:: (.*))?\.$`)

// ParseStats reads the summary line of a build's output.
func ParseStats(output string) (Stats, error) {
	st := Stats{ByKind: map[string]int{}}
	m := summary.FindAllStringSubmatch(output, -1)
	if m == nil {
		return st, errors.New("no 'INFO: N processes' line in Bazel's output")
	}
	last := m[len(m)-1]
	st.Processes, _ = strconv.Atoi(last[1])
	for _, part := range strings.Split(last[2], ", ") {
		n, kind, ok := strings.Cut(strings.TrimSpace(part), " ")
		if !ok {
			continue
		}
		c, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		st.ByKind[kind] += c
	}
	return st, nil
}

// Cacheable is the number of processes that could have come from a cache
// (all but Bazel's internal ones).
func (s Stats) Cacheable() int { return s.Processes - s.ByKind["internal"] }

// RemoteHits is the number of processes served by the remote cache.
func (s Stats) RemoteHits() int { return s.ByKind["remote cache hit"] }

// Local is the number of processes executed on this machine.
func (s Stats) Local() int { return s.Cacheable() - s.RemoteHits() - s.ByKind["disk cache hit"] }

// HitRate is RemoteHits over Cacheable.
func (s Stats) HitRate() float64 {
	if s.Cacheable() == 0 {
		return 1
	}
	return float64(s.RemoteHits()) / float64(s.Cacheable())
}

// Bazel runs builds of one workspace in one output base.
type Bazel struct {
	Bin            string   // the bazel binary
	Workspace      string   // where to run
	OutputUserRoot string   // a fresh one per simulated machine
	Env            []string // the client environment (PATH with Go, ...)
	Log            io.Writer
}

// Build runs `bazel build` with flags and targets and returns its stats; a
// failing build returns its output in the error.
func (b Bazel) Build(flags []string, targets ...string) (Stats, string, error) {
	args := []string{"--output_user_root=" + b.OutputUserRoot, "--max_idle_secs=30", "build"}
	// No disk cache: every hit must come from the remote cache.
	args = append(args, "--disk_cache=", "--color=no", "--curses=no", "--noshow_progress")
	args = append(append(args, flags...), targets...)
	cmd := exec.Command(b.Bin, args...)
	cmd.Dir, cmd.Env = b.Workspace, b.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if b.Log != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, b.Log), io.MultiWriter(&out, b.Log)
	}
	start := time.Now()
	err := cmd.Run()
	st, perr := ParseStats(out.String())
	st.Elapsed = time.Since(start)
	if err != nil {
		return st, out.String(), fmt.Errorf("bazel %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 40))
	}
	if perr != nil {
		return st, out.String(), perr
	}
	return st, out.String(), nil
}

// Shutdown stops the output base's Bazel server.
func (b Bazel) Shutdown() {
	cmd := exec.Command(b.Bin, "--output_user_root="+b.OutputUserRoot, "shutdown")
	cmd.Dir, cmd.Env = b.Workspace, b.Env
	cmd.Run()
}

// CacheFlags are the flags of a build against the server: the remote
// config of the repository's .bazelrc, then the cache's address.
func (s *Server) CacheFlags() []string {
	return []string{"--config=remote", "--remote_cache=" + s.GRPC}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Misses reads an execution log (--execution_log_json_file) and returns,
// for each mnemonic of a spawn not served by the remote cache, the count
// and why (not cacheable, not remotable, or a miss), most first.
func Misses(execLog string) ([]string, error) {
	f, err := os.Open(execLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	counts := map[string]int{}
	dec := json.NewDecoder(f)
	for {
		var sp struct {
			Mnemonic  string `json:"mnemonic"`
			Cacheable bool   `json:"cacheable"`
			Remotable bool   `json:"remotable"`
			Runner    string `json:"runner"` // "remote cache hit", "processwrapper-sandbox", ...
		}
		if err := dec.Decode(&sp); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading %s: %w", execLog, err)
		}
		if sp.Runner == "remote cache hit" {
			continue
		}
		why := "cache miss"
		switch {
		case !sp.Cacheable:
			why = "not cacheable"
		case !sp.Remotable:
			why = "not remotable"
		}
		counts[sp.Mnemonic+" ("+why+", "+sp.Runner+")"]++
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%4d %s", n, k))
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}
