// Command bty-init is PID 1 of bty's live environment: it prepares the
// machine (package liveinit), runs `bty auto` from the fetched squashfs, and
// reboots when that is done. It never exits: PID 1 exiting panics the kernel.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/liveinit"
	"github.com/bty-lab/bty/bty/version"
)

func main() {
	out := os.Stdout
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "bty-init is the live environment's PID 1; it is not meant to be run by hand")
		os.Exit(2)
	}
	fmt.Fprintf(out, "bty-init: entered v%s\n", version.String())
	if err := liveinit.MountPseudo(); err != nil {
		fmt.Fprintf(out, "bty-init: %v\n", err)
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	c := liveinit.ParseCmdline(string(cmdline))
	in := &liveinit.Init{Out: out, Cmdline: c, ModuleList: "/etc/bty/modules", LiveDir: "/run/bty-live"}
	ctx := context.Background()
	in.Prepare(ctx)

	args := []string{"auto", "--server", c.Server, "--mac", c.MAC}
	cmd := exec.Command(in.LiveDir+"/bin/bty", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, out, out
	cmd.Env = []string{"PATH=/run/bty-live/bin", "BTY_LIVE=1"}
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(out, "bty-init: bty auto failed: %v; rebooting in 10 s\n", err)
		time.Sleep(10 * time.Second)
	}
	unix.Sync()
	fmt.Fprintln(out, "bty-init: rebooting")
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
		fmt.Fprintf(out, "bty-init: reboot failed: %v\n", err)
	}
	for {
		time.Sleep(time.Hour)
	}
}
