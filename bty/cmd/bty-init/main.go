// Command bty-init is PID 1 of bty's live environment: it prepares the
// machine (package liveinit) and runs bty from the live squashfs. Booted
// over the network it runs `bty auto` and reboots when that is done; booted
// from a USB stick or CD it lists the stick's images and starts the console
// wizard (`bty wizard`) on the serial console and on the screen. It never exits: PID 1 exiting panics
// the kernel.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bty-lab/bty/bty/imageroot"
	"github.com/bty-lab/bty/bty/liveinit"
	"github.com/bty-lab/bty/bty/progress"
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
	// How the machine booted, for the operator and the boot tests: UEFI
	// with Secure Boot on means every step up to here was signed.
	fmt.Fprintf(out, "bty-init: firmware %s\n", liveinit.Firmware("/sys"))
	if c.Fetch == "" {
		usb(ctx, in)
	}
	in.PrepareNetboot(ctx)

	cmd := bty(in, out, "auto", "--server", c.Server, "--mac", c.MAC)
	// The live boot's token goes by the environment, not argv, which
	// every process may read.
	cmd.Env = append(cmd.Env, "BTY_TOKEN="+c.Token)
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
// for the operator on every console (the serial line and the screen; only
// one of them is /dev/console), then the wizard on each.
func usb(ctx context.Context, in *liveinit.Init) {
	writers := []io.Writer{in.Out}
	for _, tty := range consoleTTYs() {
		if f, err := os.OpenFile(tty, os.O_WRONLY, 0); err == nil && !progress.IsConsole(f) {
			writers = append(writers, f)
		}
	}
	operator := io.MultiWriter(writers...)
	in.Out = operator
	u := in.PrepareUSB(ctx, version.String())
	cmd := bty(in, operator, "images", imageroot.Default)
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(operator, "bty-init: bty images: %v\n", err)
	}
	unix.Sync()
	fmt.Fprintln(operator, "bty-init: usb ready")
	// Kernel messages on the console would tear the wizard's screen; they
	// stay in the kernel log.
	if err := os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0); err != nil {
		fmt.Fprintf(operator, "bty-init: quieting the kernel: %v\n", err)
	}
	for _, tty := range consoleTTYs() {
		go wizard(in, tty, u.BootDisk())
	}
	idle()
}

// consoleTTYs are the terminals of the kernel's consoles: tty0 (the
// screen's current VT) is tty1, where the wizard runs on the screen.
func consoleTTYs() []string {
	b, err := os.ReadFile("/sys/class/tty/console/active")
	if err != nil {
		return []string{"/dev/console"}
	}
	var out []string
	for _, name := range strings.Fields(string(b)) {
		if name == "tty0" {
			name = "tty1"
		}
		out = append(out, "/dev/"+name)
	}
	return out
}

// wizard keeps `bty wizard` running on one terminal: started again when
// the operator quits it.
func wizard(in *liveinit.Init, tty, bootDisk string) {
	for {
		err := runWizard(in, tty, bootDisk)
		fmt.Fprintf(in.Out, "bty-init: the wizard on %s ended (%v); starting it again\n", tty, err)
		time.Sleep(time.Second)
	}
}

func runWizard(in *liveinit.Init, tty, bootDisk string) error {
	f, err := os.OpenFile(tty, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	termType := "linux"
	if strings.HasPrefix(filepath.Base(tty), "ttyS") {
		// A serial line has no size of its own; the far end is most
		// likely a terminal of 80x24, which is what vt100 promises.
		termType = "vt100"
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Row == 0 {
			unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
		}
	}
	cmd := bty(in, f, "wizard")
	cmd.Stdin = f
	cmd.Env = append(cmd.Env, "TERM="+termType, "BTY_BOOT_DISK="+bootDisk, "HOME=/run")
	// Its own session with the terminal as controlling tty, so the
	// terminal's signals (and hangups) reach the wizard alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd.Run()
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
