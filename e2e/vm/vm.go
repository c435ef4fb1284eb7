// Package vm holds what the boot tests share about running QEMU here.
package vm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Accel picks QEMU's accelerator: BTY_QEMU_ACCEL if set, else KVM when it
// really works, else TCG (software emulation). "Works" is proven by booting
// kernel under KVM until it panics for want of an init: a /dev/kvm that
// opens but cannot run a guest (seen under nested virtualization: "KVM
// internal error ... emulation failure") must not hang the test.
func Accel(qemu, kernel string) string {
	once.Do(func() { accel = probe(qemu, kernel) })
	return accel
}

// The probe runs once per process: a test booting twice pays for it once.
var (
	once  sync.Once
	accel string
)

func probe(qemu, kernel string) string {
	if a := os.Getenv("BTY_QEMU_ACCEL"); a != "" {
		return a
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "128", "-nographic", "-no-reboot",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1 init=/bty-kvm-probe")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Run()
	if strings.Contains(out.String(), "Kernel panic") && !strings.Contains(out.String(), "KVM internal error") {
		return "kvm"
	}
	return "tcg"
}
