// Package testenv holds what tests need from their environment, in one
// place: host tools (QEMU's qemu-img, mkfs, shellcheck), the binaries Bazel
// built, and the rule that a missing prerequisite fails a test under CI
// (where everything must run) but skips it, with the fix, elsewhere.
package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bazelbuild/rules_go/go/runfiles"

	"github.com/bty-lab/bty/internal/freeport"
)

// Require stops the test when a prerequisite is missing (err != nil): under
// CI it fails, since CI must run everything; elsewhere it skips with why.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v (CI must provide it)", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

// Tool returns the path of a host tool, looking on PATH and then in the sbin
// directories Bazel's test PATH lacks; pkg names the Debian package to
// install when it is missing.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isFile(p) {
			return p
		}
	}
	Require(t, name, fmt.Errorf("not found on PATH or in /usr/sbin, /sbin; install it: apt-get install %s", pkg))
	return ""
}

// Binary returns an executable under test: the one Bazel built, passed as a
// runfiles path in the environment variable env, or else (under plain `go
// test`) one `go build` makes from the package pkg.
func Binary(t testing.TB, env, pkg string) string {
	t.Helper()
	if rel := os.Getenv(env); rel != "" {
		p, err := runfiles.Rlocation(rel)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Runfiles returns the paths of the Bazel-built files that the test's
// BUILD target passes in the environment variable env as runfiles paths
// ($(rlocationpath) or $(rlocationpaths), space-separated), resolved with
// rules_go's runfiles library. Under plain `go test` (env unset) the test
// stops through Require: a skip that names the Bazel target to run instead,
// or a failure under CI.
func Runfiles(t testing.TB, env, target string) []string {
	t.Helper()
	rels := strings.Fields(os.Getenv(env))
	if len(rels) == 0 {
		Require(t, "Bazel-built artifact ("+env+")", fmt.Errorf("not set outside Bazel; run tools/bazel test %s", target))
		return nil
	}
	paths := make([]string, len(rels))
	for i, rel := range rels {
		p, err := runfiles.Rlocation(rel)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		paths[i] = p
	}
	return paths
}

// Runfile is Runfiles for a variable that names one file.
func Runfile(t testing.TB, env, target string) string {
	t.Helper()
	paths := Runfiles(t, env, target)
	if len(paths) != 1 {
		t.Fatalf("%s names %d files, want 1", env, len(paths))
	}
	return paths[0]
}

// FirstDiff returns the index of the first byte where a and b differ (the
// shorter length if one is a prefix of the other).
func FirstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// WaitHTTP polls url until it answers, failing the test after 20 s.
func WaitHTTP(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 20 s", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Login signs in to bty-web at base and returns a client carrying the
// session cookie.
func Login(t testing.TB, base, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/ui/login", url.Values{"password": {password}})
	if err != nil {
		t.Fatalf("login to %s: %v", base, err)
	}
	resp.Body.Close()
	if len(jar.Cookies(resp.Request.URL)) == 0 {
		t.Fatalf("login to %s: no session cookie (status %s)", base, resp.Status)
	}
	return c
}

// Registry starts Debian's docker-registry (the distribution registry) on a
// free loopback port with storage in a temporary directory, and returns its
// host:port. It stops with the test.
func Registry(t testing.TB) string {
	t.Helper()
	bin := Tool(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	port := FreePort(t)
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%d\nlog:\n  level: error\n", dir, port)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/v2/", port))
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// FileSHA256 is the lower-case hex sha256 of the file at path.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Start starts a server process for the test: its output is kept, it is
// killed when the test ends, and its output is logged if the test failed.
func Start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", cmd.Args[0], out.String())
		}
	})
}

// GoSDK returns the bin directory of the Go SDK rules_go builds with
// (go_sdk.host(): the toolchain tools/bazel put on PATH), found beside
// the runfile goTool of @io_bazel_rules_go//go.
func GoSDK(t testing.TB, goTool string) string {
	t.Helper()
	sdkGo, _ := filepath.Glob(filepath.Join(filepath.Dir(strings.SplitN(goTool, ".runfiles/", 2)[0]+".runfiles/x"), "rules_go~~go_sdk~*", "bin", "go"))
	if len(sdkGo) == 0 {
		t.Fatalf("no Go SDK beside %s", goTool)
	}
	goBin, err := filepath.EvalSymlinks(sdkGo[0])
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(goBin)
}
