// Package cli defines bty's command line: the commands, their flags, and
// how a failure maps to the exit codes of docs/design.md (0 ok, 2 no target,
// 3 validation refused, 4 write or integrity failure).
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/imageroot"
	"github.com/bty-lab/bty/bty/version"
)

// Exit codes of "The flasher" in docs/design.md.
const (
	ExitOK         = 0
	ExitUsage      = 1
	ExitNoTarget   = 2
	ExitRefused    = 3
	ExitWriteError = 4
)

// ExitCodes lists every exit code bty ends with, in order.
func ExitCodes() []int {
	return []int{ExitOK, ExitUsage, ExitNoTarget, ExitRefused, ExitWriteError}
}

// exitError carries the exit code a failure should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// refused marks err as a validation refusal (exit 3).
func refused(err error) error { return &exitError{code: ExitRefused, err: err} }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return ExitUsage
}

// New returns the root command writing to out and errOut.
func New(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "bty",
		Short:         "bty flashes disk images onto machines",
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetVersionTemplate("bty {{.Version}}\n")
	root.AddCommand(newCatalogCommand(), newFlashCommand(), newImagesCommand(), newAutoCommand(), newWizardCommand())
	// bty alone: the wizard on a terminal, the usage anywhere else.
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if interactive(cmd) {
			return runWizard(cmd, imageroot.Default)
		}
		return cmd.Help()
	}
	return root
}

func newCatalogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "work with catalog.toml files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "validate a catalog.toml and list its images with their refs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := catalog.Load(args[0])
			if err != nil {
				return refused(err)
			}
			w := cmd.OutOrStdout()
			for _, img := range c.Images {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", img.Ref(), img.Name, img.Format, img.Src)
			}
			fmt.Fprintf(w, "%s: %d image(s), valid\n", args[0], len(c.Images))
			return nil
		},
	})
	return cmd
}
