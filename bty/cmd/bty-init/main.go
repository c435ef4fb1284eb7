// Command bty-init is PID 1 of bty's live environment: it prepares the
// machine (package liveinit) and runs bty from the live squashfs. Booted
// over the network it runs `bty auto` and reboots when that is done; booted
// from a USB stick or CD it lists the stick's images on the serial console
// and tty1 and waits for the operator. It never exits: PID 1 exiting panics
// the kernel.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/imageroot"
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
	in.LoadModules()
	if c.Fetch == "" {
		usb(ctx, in)
	}
	in.PrepareNetboot(ctx)

	cmd := bty(in, out, "auto", "--server", c.Server, "--mac", c.MAC)
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(out, "bty-init: bty auto failed: %v; rebooting in 10 s\n", err)
		time.Sleep(10 * time.Second)
	}
	unix.Sync()
	fmt.Fprintln(out, "bty-init: rebooting")
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
		fmt.Fprintf(out, "bty-init: reboot failed: %v\n", err)
	}
	idle()
}

// usb is the stick's flow: the medium, BTY_IMAGES, then the images listed
// for the operator on the serial console and on tty1 (the screen), where
// the kernel's console= order may not send them.
func usb(ctx context.Context, in *liveinit.Init) {
	operator := io.Writer(in.Out)
	if tty, err := os.OpenFile("/dev/tty1", os.O_WRONLY, 0); err == nil && !consoleIs("tty0", "tty1") {
		operator = io.MultiWriter(in.Out, tty)
	}
	in.Out = operator
	in.PrepareUSB(ctx, version.String())
	cmd := bty(in, operator, "images", imageroot.Default)
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(operator, "bty-init: bty images: %v\n", err)
	}
	unix.Sync()
	fmt.Fprintln(operator, "bty-init: usb ready")
	idle()
}

// consoleIs reports whether /dev/console is one of names: the last console
// sysfs lists as active is the one /dev/console writes to.
func consoleIs(names ...string) bool {
	b, err := os.ReadFile("/sys/class/tty/console/active")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	for _, n := range names {
		if f[len(f)-1] == n {
			return true
		}
	}
	return false
}

// bty is a command running bty from the live squashfs.
func bty(in *liveinit.Init, out io.Writer, args ...string) *exec.Cmd {
	cmd := exec.Command(in.LiveDir+"/bin/bty", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, out, out
	cmd.Env = []string{"PATH=" + in.LiveDir + "/bin", "BTY_LIVE=1"}
	return cmd
}

func idle() {
	for {
		time.Sleep(time.Hour)
	}
}
