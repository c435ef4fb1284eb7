package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bty-lab/bty/bty/version"
	"github.com/bty-lab/bty/internal/testenv"
)

// The shipped binary reports the version from the VERSION file and maps a
// refused catalog to exit code 3.
func TestBinary(t *testing.T) {
	bin := testenv.Binary(t, "BTY_BINARY", "github.com/bty-lab/bty/bty/cmd/bty")
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("bty --version: %v", err)
	}
	if want := "bty " + version.String() + "\n"; string(out) != want {
		t.Errorf("bty --version printed %q, want %q", out, want)
	}

	bad := filepath.Join(t.TempDir(), "catalog.toml")
	if err := os.WriteFile(bad, []byte("version = 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "catalog", "check", bad)
	stderr, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 3 || !strings.Contains(string(stderr), "version 7 is not supported") {
		t.Errorf("bty catalog check (bad): exit %d, output %q; want exit 3 and the reason", code, stderr)
	}
}
