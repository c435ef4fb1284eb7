package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kernelURL = "http://10.99.0.1:8080/boot/bty-netboot-pc-x86_64-v0.1.0.vmlinuz?mac=52-54-00-11-22-33"

// The download stage matches what iPXE prints on a fast and on a slow
// transfer (issue 18: a loaded machine showed progress between "..." and
// "ok", and the literal marker never appeared), and not a failed one.
func TestDownloadStage(t *testing.T) {
	for _, tc := range []struct {
		console string
		want    bool
	}{
		{kernelURL + "... ok\n", true},
		{kernelURL + "... 54%     ok\n", true},
		{kernelURL + "...  3%\r" + kernelURL + "... 54%\r" + kernelURL + "... ok\n", true},
		{kernelURL + "... 12%\b\b\b\b 99%\b\b\b\bok\n", true},
		{kernelURL + "... \x1b[K 40%\x1b[K ok\r\n", true},
		{kernelURL + "... Connection timed out (https://ipxe.org/4c0a6092)\n", false},
		{kernelURL + "... 54%\nbroken\n", false},
		{"http://10.99.0.1:8080/boot/other.initrd... ok\n", false},
	} {
		c := NewConsole(nil)
		// Serial output arrives in arbitrary pieces.
		for _, part := range strings.SplitAfter(tc.console, "%") {
			c.Write([]byte(part))
		}
		i, _ := c.FindStage(0, Download(".vmlinuz"))
		if got := i >= 0; got != tc.want {
			t.Errorf("console %q: download stage found = %v, want %v", tc.console, got, tc.want)
		}
	}
}

type fatal struct{ msg string }

func (f *fatal) Helper()         {}
func (f *fatal) TempDir() string { return "" }
func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestStagesInOrder(t *testing.T) {
	c := NewConsole(nil)
	c.Write([]byte("iPXE\n" + kernelURL + "... 10% ok\nbty-init: entered v1\n"))
	if tl := c.Stages(t, Literal("iPXE"), Download(".vmlinuz"), Literal("bty-init: entered v")); strings.Count(tl, "\n") != 3 {
		t.Errorf("timeline:\n%s", tl)
	}
	f := &fatal{}
	func() {
		defer func() { recover() }()
		c.Stages(f, Literal("bty-init: entered v"), Literal("iPXE"))
	}()
	if !strings.Contains(f.msg, `stage "iPXE" not reached`) {
		t.Errorf("out-of-order stages: %q", f.msg)
	}
}

// An arm64 guest is QEMU's virt board, emulated whatever the host (no probe
// of /dev/kvm, which would be an x86_64 KVM here), with the fast pointer
// authentication; an unknown architecture is refused by name.
func TestArm64Machine(t *testing.T) {
	args := strings.Join(Options{QEMU: "qemu-system-aarch64", Arch: "aarch64"}.args(t), " ")
	for _, want := range []string{"-machine virt,accel=tcg", "-cpu max,pauth-impdef=on"} {
		if !strings.Contains(args, want) {
			t.Errorf("arm64 command line %q lacks %q", args, want)
		}
	}
	ft := &fatalTB{TB: t}
	Options{Arch: "riscv64"}.args(ft)
	if !strings.Contains(ft.msg, `"riscv64"`) {
		t.Errorf("an unknown architecture gave %q", ft.msg)
	}
}

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

// A Secure Boot machine has SMM and flash that only SMM may write;
// without it OVMF's Secure Boot build does not start.
func TestSecureBootMachine(t *testing.T) {
	vars := filepath.Join(t.TempDir(), "vars.fd")
	if err := os.WriteFile(vars, []byte("vars"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{QEMU: "qemu-system-x86_64", Arch: "x86_64", OVMFCode: "code.fd", OVMFVars: vars, Kernel: "/nonexistent"}
	plain := strings.Join(o.args(t), " ")
	o.SecureBoot = true
	secure := strings.Join(o.args(t), " ")
	for _, want := range []string{",smm=on", "-global driver=cfi.pflash01,property=secure,value=on"} {
		if !strings.Contains(secure, want) || strings.Contains(plain, want) {
			t.Errorf("%q: in the Secure Boot command line %q, not in the plain one %q", want, secure, plain)
		}
	}
}

// Every module loaded passes; one refused, none listed or no report at
// all fails, each saying which.
func TestAllModulesLoaded(t *testing.T) {
	for console, want := range map[string]string{
		"bty-init: loaded 41 of 41 kernel modules\n":                                                 "",
		"bty-init: module efivarfs.ko: key was rejected\nbty-init: loaded 40 of 41 kernel modules\n": "loaded 40 of 41",
		"bty-init: loaded 0 of 0 kernel modules\n":                                                   "loaded 0 of 0",
		"bty-init: entered v1\n":                                                                     "did not report",
	} {
		c := NewConsole(nil)
		c.Write([]byte(console))
		f := &fatal{}
		func() {
			defer func() { recover() }()
			c.AllModulesLoaded(f)
		}()
		if (want == "") != (f.msg == "") || !strings.Contains(f.msg, want) {
			t.Errorf("console %q: %q; want a failure saying %q", console, f.msg, want)
		}
	}
}
