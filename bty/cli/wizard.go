package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/bty-lab/bty/bty/flash"
	"github.com/bty-lab/bty/bty/imageroot"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/version"
	"github.com/bty-lab/bty/bty/wizard"
)

// flashLock is taken for the whole write, so the wizards on two consoles
// (the screen and the serial line) never flash at once.
const flashLock = "/run/bty-flash.lock"

func newWizardCommand() *cobra.Command {
	var images string
	cmd := &cobra.Command{
		Use:   "wizard [--images DIR]",
		Short: "pick an image and a disk on the console and flash it (what `bty` alone runs on a terminal)",
		Long: `wizard walks an operator through a flash on the console: pick an image
from the image root (its files and its catalog.toml), pick a target disk,
confirm by typing the disk's serial (or its last 4 characters), watch the
flash, read the result. Arrow keys, j/k and the numbers 1-9 choose; Esc
or q goes back. Nothing is written before the confirmation.

In the live environment, BTY_BOOT_DISK names the disk it runs from, which
cannot be chosen, and "reboot" on the last screen restarts the machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWizard(cmd, images) },
	}
	cmd.Flags().StringVar(&images, "images", imageroot.Default, "the image root")
	return cmd
}

// interactive reports whether bty runs on a terminal, where `bty` alone
// starts the wizard.
func interactive(cmd *cobra.Command) bool {
	in, ok1 := cmd.InOrStdin().(*os.File)
	out, ok2 := cmd.OutOrStdout().(*os.File)
	return ok1 && ok2 && term.IsTerminal(int(in.Fd())) && term.IsTerminal(int(out.Fd()))
}

func runWizard(cmd *cobra.Command, images string) error {
	if !interactive(cmd) {
		return refused(errors.New("the wizard needs a terminal; use `bty flash` in scripts"))
	}
	out := cmd.OutOrStdout().(*os.File)
	var markers []io.Writer
	for _, c := range progress.Consoles() {
		defer c.Close()
		markers = append(markers, c)
	}
	var p *tea.Program
	if progress.IsConsole(out) {
		// Our screen is the console: markers are printed above the
		// wizard, which keeps its drawing intact.
		markers = append(markers, lineFunc(func(line string) { p.Println(line) }))
	}
	m := wizard.New(wizard.Env{
		Version:   version.String(),
		ImageRoot: images,
		Disks:     System.List,
		BootDisk:  os.Getenv("BTY_BOOT_DISK"),
		Flash:     flash.Run,
		Markers:   markers,
		Lock:      lock,
	})
	p = tea.NewProgram(m, tea.WithInput(cmd.InOrStdin()), tea.WithOutput(out), tea.WithContext(cmd.Context()))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return err
	}
	if m.Action() == wizard.Reboot {
		if os.Getenv("BTY_LIVE") != "1" {
			fmt.Fprintln(cmd.OutOrStdout(), "reboot the machine to start the new system")
			return nil
		}
		unix.Sync()
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	return nil
}

// lock takes the flash lock without waiting.
func lock() (func(), error) {
	f, err := os.OpenFile(flashLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", flashLock, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.New("another console is flashing; wait for it to finish")
	}
	return func() { f.Close() }, nil
}

// lineFunc is a writer that hands each complete line to a function.
type lineFunc func(string)

func (f lineFunc) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f(l)
	}
	return len(b), nil
}
