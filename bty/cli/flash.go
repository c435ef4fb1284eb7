package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/disk"
	"github.com/bty-lab/bty/bty/flash"
	"github.com/bty-lab/bty/bty/progress"
	"github.com/bty-lab/bty/bty/source"
)

type flashFlags struct {
	image, disk, serial, sha256, format string
	yes                                 bool
}

// System is the machine the flash commands inspect; tests point it at a
// fake sysfs tree.
var System = disk.Host

func newFlashCommand() *cobra.Command {
	var f flashFlags
	cmd := &cobra.Command{
		Use:   "flash --image SRC (--disk DEV | --serial S) [--sha256 H] [--yes]",
		Short: "write an image onto a whole disk",
		Long: `flash writes an image (a path, an http(s):// URL or an oras:// reference)
onto a whole disk, chosen by device path or by its exact serial number.
Formats: .img, .img.gz, .img.zst, .img.xz, .img.bz2, .qcow2.

Exit codes: 0 ok; 2 no such target; 3 refused (nothing written);
4 write or integrity failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFlash(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.image, "image", "", "image to write: path, http(s):// URL or oras:// reference")
	fl.StringVar(&f.disk, "disk", "", "target disk device, e.g. /dev/sdb")
	fl.StringVar(&f.serial, "serial", "", "target disk by its exact serial number")
	fl.StringVar(&f.sha256, "sha256", "", "expected sha256 of the image as fetched")
	fl.StringVar(&f.format, "format", "", "image format, when its name does not tell (img, img.gz, img.zst, img.xz, img.bz2, qcow2)")
	fl.BoolVar(&f.yes, "yes", false, "do not ask for confirmation")
	_ = cmd.MarkFlagRequired("image")
	cmd.MarkFlagsMutuallyExclusive("disk", "serial")
	cmd.MarkFlagsOneRequired("disk", "serial")
	return cmd
}

func runFlash(cmd *cobra.Command, f flashFlags) error {
	var target disk.Disk
	var err error
	if f.disk != "" {
		target, err = System.Resolve(f.disk)
	} else {
		var disks []disk.Disk
		if disks, err = System.List(); err == nil {
			target, err = disk.BySerial(disks, f.serial)
		}
	}
	if errors.Is(err, disk.ErrNotFound) {
		return &exitError{code: ExitNoTarget, err: err}
	}
	if err != nil {
		return refused(err)
	}
	var format catalog.Format
	if f.format != "" {
		if format, err = catalog.ParseFormat(f.format); err != nil {
			return refused(err)
		}
	}
	if err := target.Check(-1); err != nil {
		return refused(err)
	}
	errOut := cmd.ErrOrStderr()
	tty := isTerminal(errOut)
	if !f.yes {
		if err := confirm(cmd.InOrStdin(), errOut, target); err != nil {
			return refused(err)
		}
	}
	res, err := flash.Run(cmd.Context(), flash.Job{
		Source:   f.image,
		SHA256:   strings.ToLower(f.sha256),
		Format:   format,
		Target:   target,
		Progress: progress.New(errOut, tty),
		Sources: source.Options{HTTP: source.HTTPOptions{Log: func(format string, args ...any) {
			fmt.Fprintf(errOut, "bty: "+format+"\n", args...)
		}}},
	})
	if err != nil {
		var fe *flash.Error
		if errors.As(err, &fe) {
			return &exitError{code: int(fe.Kind), err: err}
		}
		return &exitError{code: ExitWriteError, err: err}
	}
	check := "sha256 " + res.SHA256 + " verified"
	if f.sha256 == "" {
		check = "not verified: pass --sha256 to check the image"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, %s) to %s in %.1fs\n",
		progress.Bytes(res.Written), res.Format, check, target.Path, res.Elapsed.Seconds())
	return nil
}

// confirm asks on a terminal; anywhere else it refuses, since a script that
// forgot --yes must not erase a disk by accident.
func confirm(in io.Reader, out io.Writer, d disk.Disk) error {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("refusing to overwrite %s without confirmation; pass --yes to flash non-interactively", d.Path)
	}
	fmt.Fprintf(out, "This erases ALL data on %s (%s, %s, serial %q).\nType the device name (%s) to continue: ", d.Path, d.Model, progress.Bytes(d.Size), d.Serial, d.Name)
	line, _ := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(line) != d.Name {
		return fmt.Errorf("not confirmed; %s left untouched", d.Path)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
