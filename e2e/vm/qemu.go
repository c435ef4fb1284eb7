package vm

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Options describe one VM run: an x86_64 q35 machine (or an arm64 virt
// board), booted by firmware (UEFI from OVMF or AAVMF; SeaBIOS when no
// UEFI firmware is given) or directly from a kernel and initrd.
type Options struct {
	// QEMU is the qemu-system-x86_64 (or qemu-system-aarch64) binary.
	QEMU string
	// Arch is the guest's architecture: "" or "x86_64" for a q35 PC,
	// "aarch64" for QEMU's virt board.
	Arch string
	// MemoryMiB is the guest's memory; 0 means 1024.
	MemoryMiB int
	// OVMFCode and OVMFVars boot the machine through UEFI firmware (OVMF,
	// or AAVMF on aarch64): the code image (read-only) and a private copy
	// of the variables image are used.
	OVMFCode, OVMFVars string
	// SecureBoot runs OVMF's Secure Boot build (see OVMFSecureBoot): the
	// machine gets SMM, which that firmware needs to guard its variables.
	SecureBoot bool
	// Kernel, Initrd and Append boot a kernel directly (no firmware).
	Kernel, Initrd, Append string
	// NICs are the network devices: each a -netdev value and the
	// -device value that uses it.
	NICs []NIC
	// Disks are raw virtio disks, each with a serial.
	Disks []Disk
	// USBStick is a raw image attached as a USB mass-storage device on an
	// xHCI controller: the path a real stick takes through firmware and
	// kernel.
	USBStick string
	// CDROM is an ISO image in the machine's (SATA) CD drive.
	CDROM string
	// Until stops the VM once the console shows this stage (QEMU is
	// terminated; the guest must have synced what matters). Without it,
	// Run waits for the guest to power off or reboot.
	Until *Stage
	// Timeout is the VM's hard deadline; a test's own deadline, below
	// Bazel's for the test's size.
	Timeout time.Duration
	// Serial, if set, also receives the serial console (a log file).
	Serial io.Writer
	// ProbeKernel is a kernel to probe KVM with (see Accel); Kernel if empty.
	ProbeKernel string
}

// NIC is one network device.
type NIC struct{ Netdev, Device string }

// Disk is one raw virtio disk.
type Disk struct{ Path, Serial string }

// args is the QEMU command line for o, in a fixed order.
func (o Options) args(t TB) []string {
	machine, cpu, accel := "q35", "max", "tcg" // max: TCG's richest model
	switch o.Arch {
	case "", "x86_64":
		accel = Accel(o.QEMU, cmp.Or(o.ProbeKernel, o.Kernel))
	case "aarch64":
		// An emulated arm64 (there is no arm64 build machine to run KVM
		// on). pauth-impdef: QEMU's own pointer-authentication algorithm,
		// which TCG computes far faster than the architected QARMA; the
		// guest cannot tell.
		machine, cpu = "virt", "max,pauth-impdef=on"
	default:
		t.Fatalf("vm: unknown architecture %q (x86_64 or aarch64)", o.Arch)
	}
	if accel == "kvm" {
		cpu = "host"
	}
	if o.SecureBoot {
		machine += ",smm=on"
	}
	a := []string{"-machine", machine + ",accel=" + accel, "-cpu", cpu, "-m", fmt.Sprint(cmp.Or(o.MemoryMiB, 1024)), "-nographic", "-no-reboot"}
	if o.OVMFCode != "" {
		vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
		b, err := os.ReadFile(o.OVMFVars)
		if err != nil {
			t.Fatalf("OVMF variables: %v", err)
		}
		if err := os.WriteFile(vars, b, 0o644); err != nil {
			t.Fatalf("OVMF variables: %v", err)
		}
		if o.SecureBoot {
			// Only SMM code may write the variables: the OS cannot turn
			// Secure Boot off behind the firmware's back.
			a = append(a, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		a = append(a, "-drive", "if=pflash,format=raw,readonly=on,file="+o.OVMFCode, "-drive", "if=pflash,format=raw,file="+vars)
	}
	if o.Kernel != "" {
		a = append(a, "-kernel", o.Kernel, "-initrd", o.Initrd, "-append", o.Append)
	}
	for i, n := range o.NICs {
		id := fmt.Sprintf("n%d", i)
		a = append(a, "-netdev", n.Netdev+",id="+id, "-device", n.Device+",netdev="+id)
	}
	// Entropy for the guest: without it iPXE stalls seconds under TCG.
	a = append(a, "-device", "virtio-rng-pci")
	for i, d := range o.Disks {
		id := fmt.Sprintf("d%d", i)
		a = append(a, "-drive", "file="+d.Path+",if=none,id="+id+",format=raw", "-device", "virtio-blk-pci,drive="+id+",serial="+d.Serial)
	}
	if o.USBStick != "" {
		a = append(a, "-device", "qemu-xhci,id=xhci", "-drive", "file="+o.USBStick+",if=none,id=stick,format=raw",
			"-device", "usb-storage,bus=xhci.0,drive=stick")
	}
	if o.CDROM != "" {
		a = append(a, "-drive", "file="+o.CDROM+",media=cdrom,readonly=on,format=raw")
	}
	return a
}

// OVMF returns Debian's OVMF code and variables images (4 MiB flash
// layout), or why they are missing.
func OVMF() (code, vars string, err error) {
	return firmware("ovmf", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd")
}

// OVMFSecureBoot returns Debian's OVMF build with Secure Boot and the
// variables image with Microsoft's keys enrolled and Secure Boot on: what
// a PC from a shop has. Run it with Options.SecureBoot.
func OVMFSecureBoot() (code, vars string, err error) {
	return firmware("ovmf", "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
}

// AAVMF returns Debian's arm64 UEFI firmware code and variables images,
// or why they are missing.
func AAVMF() (code, vars string, err error) {
	return firmware("qemu-efi-aarch64", "/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd")
}

// firmware returns code and vars if both exist, or which is missing and
// the Debian package that has it.
func firmware(pkg, code, vars string) (string, string, error) {
	for _, p := range []string{code, vars} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%w (apt-get install %s)", err, pkg)
		}
	}
	return code, vars, nil
}

// Run boots the VM and waits until QEMU exits (the guest powers off or
// reboots, with -no-reboot) or the console reaches o.Until. On a timeout or
// a QEMU error the test fails with the console's tail and the command line
// that reproduces the run.
func Run(t TB, name string, o Options) *Console {
	t.Helper()
	return Start(t, name, o).Wait(t)
}

// Machine is a running VM whose serial console a test reads and types on.
type Machine struct {
	Console *Console
	name    string
	o       Options
	args    []string
	ctx     context.Context
	cancel  context.CancelFunc
	in      io.WriteCloser
	done    chan error
	reached atomic.Bool
}

// Start boots the VM and returns at once; the serial console's input is
// the machine's Send.
func Start(t TB, name string, o Options) *Machine {
	t.Helper()
	m := &Machine{Console: NewConsole(o.Serial), name: name, o: o, args: o.args(t), done: make(chan error, 1)}
	m.ctx, m.cancel = context.WithTimeout(context.Background(), o.Timeout)
	cmd := exec.CommandContext(m.ctx, o.QEMU, m.args...)
	cmd.Stdout, cmd.Stderr = m.Console, m.Console
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	m.in = in
	// QEMU exits cleanly on SIGTERM, with every write of the guest in the
	// image files.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		m.cancel()
		t.Fatalf("%s: starting qemu: %v", name, err)
	}
	go func() { m.done <- cmd.Wait() }()
	if o.Until != nil {
		go func() {
			for m.ctx.Err() == nil {
				if i, _ := m.Console.FindStage(0, *o.Until); i >= 0 {
					m.reached.Store(true)
					m.cancel()
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	return m
}

// Send types s on the serial console.
func (m *Machine) Send(s string) error {
	_, err := io.WriteString(m.in, s)
	return err
}

// WaitFor waits until the console shows stage s at or after line from, and
// returns that line's index; the test fails if the VM ends or the VM's
// deadline passes first.
func (m *Machine) WaitFor(t TB, from int, s Stage) int {
	t.Helper()
	for {
		if i, _ := m.Console.FindStage(from, s); i >= 0 {
			return i
		}
		select {
		case <-m.ctx.Done():
			t.Fatalf("%s: %q not shown before the deadline; last console lines:\n%s", m.name, s.Name, m.Console.Tail(60))
		case err := <-m.done:
			m.done <- err
			if i, _ := m.Console.FindStage(from, s); i >= 0 {
				return i
			}
			t.Fatalf("%s: the VM ended (%v) before %q; last console lines:\n%s", m.name, err, s.Name, m.Console.Tail(60))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Wait waits until QEMU exits, or the console reaches o.Until, and returns
// the console.
func (m *Machine) Wait(t TB) *Console {
	t.Helper()
	defer m.cancel()
	err := <-m.done
	m.in.Close()
	reproduce := func() string { return m.o.QEMU + " " + strings.Join(quote(m.args), " ") }
	if m.reached.Load() {
		return m.Console
	}
	if m.ctx.Err() != nil {
		t.Fatalf("%s: the VM did not finish in %s; last console lines:\n%s\nreproduce with:\n  %s", m.name, m.o.Timeout, m.Console.Tail(100), reproduce())
	}
	if err != nil {
		t.Fatalf("%s: qemu: %v\n%s\nreproduce with:\n  %s", m.name, err, m.Console.Tail(100), reproduce())
	}
	return m.Console
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
