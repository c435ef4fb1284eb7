// Package ipxe_test checks the TFTP root and release assets built from
// Debian's iPXE package and our chain script.
package ipxe_test

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/bty-lab/bty/internal/testenv"
	"github.com/bty-lab/bty/tools/efi"
)

func built(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	testenv.Require(t, "Bazel-built iPXE files (tools/bazel test //ipxe:ipxe_test)", err)
	return b
}

func TestBinaries(t *testing.T) {
	for path, machine := range map[string]uint16{
		"tftp/ipxe.efi":       efi.AMD64,
		"tftp/snponly.efi":    efi.AMD64,
		"tftp/ipxe-arm64.efi": efi.ARM64,
	} {
		built(t, path)
		if err := efi.Check(path, machine); err != nil {
			t.Error(err)
		}
	}
	if kpxe := built(t, "tftp/undionly.kpxe"); len(kpxe) < 50<<10 {
		t.Errorf("undionly.kpxe is only %d bytes", len(kpxe))
	}
}

func TestAutoexecIsTheChainScript(t *testing.T) {
	auto := built(t, "tftp/autoexec.ipxe")
	chain, err := os.ReadFile("chain.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(auto, chain) {
		t.Error("tftp/autoexec.ipxe differs from chain.ipxe")
	}
}

// The release assets carry the version in their names and are the same
// bytes as the TFTP root's.
func TestReleaseAssets(t *testing.T) {
	v := strings.TrimSpace(string(built(t, "../VERSION")))
	if !bytes.Equal(built(t, "bty-ipxe-x86_64-v"+v+".efi"), built(t, "tftp/ipxe.efi")) {
		t.Error("release .efi differs from tftp/ipxe.efi")
	}
	if !bytes.Equal(built(t, "bty-ipxe-autoexec-v"+v+".ipxe"), built(t, "tftp/autoexec.ipxe")) {
		t.Error("release autoexec differs")
	}
}

var (
	gotoRe  = regexp.MustCompile(`goto ([a-z_]+)`)
	labelRe = regexp.MustCompile(`(?m)^:([a-z_]+)$`)
)

// The chain script's structure: IPv4 DHCP only (no IPv6 autoconfiguration
// wait), every failure path echoes a "bty:" line and exits, and nothing
// opens an iPXE shell. What it does is proven by running it: //e2e/pxe
// boots three chains through it (one with bty-web on another port), and
// //bty/tftp checks the copy bty-tftp serves names bty-web.
func TestChainScript(t *testing.T) {
	b, err := os.ReadFile("chain.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "#!ipxe\n") {
		t.Error("does not start with #!ipxe")
	}
	if !strings.Contains(s, "\ndhcp || goto no_dhcp\n") {
		t.Error("does not ask DHCP (IPv4) for an address first")
	}
	for _, bad := range []string{"\nshell", "ifconf", "ipv6"} {
		if strings.Contains(s, bad) {
			t.Errorf("contains %q", bad)
		}
	}
	labels := map[string]bool{}
	for _, m := range labelRe.FindAllStringSubmatch(s, -1) {
		labels[m[1]] = true
	}
	for _, m := range gotoRe.FindAllStringSubmatch(s, -1) {
		if !labels[m[1]] {
			t.Errorf("goto %s has no label", m[1])
		}
	}
	for label := range labels {
		block := s[strings.Index(s, ":"+label+"\n"):]
		if next := strings.Index(block[1:], "\n:"); next >= 0 {
			block = block[:next+1]
		}
		if !strings.Contains(block, "echo bty: ") || !strings.Contains(block, "\nexit") {
			t.Errorf("failure path %s does not echo a bty: line and exit", label)
		}
	}
}
