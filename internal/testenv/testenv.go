// Package testenv holds what tests need from their environment, in one
// place: host tools (QEMU's qemu-img, mkfs, shellcheck), the binaries Bazel
// built, and the rule that a missing prerequisite fails a test under CI
// (where everything must run) but skips it, with the fix, elsewhere.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
		return filepath.Join(os.Getenv("TEST_SRCDIR"), rel)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
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
