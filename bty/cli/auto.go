package cli

import (
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bty-lab/bty/bty/auto"
	"github.com/bty-lab/bty/bty/flash"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/progress"
)

func newAutoCommand() *cobra.Command {
	var server, addr string
	cmd := &cobra.Command{
		Use:   "auto --server URL --mac MAC",
		Short: "the live environment's unattended mode: fetch this machine's plan from bty-web and carry it out",
		Long: `bty auto asks bty-web for this machine's plan and carries it out (flash,
inventory, or nothing), reporting to bty-web as it goes. Each request
carries the live boot's token from the environment variable BTY_TOKEN
(bty-init takes it from the kernel's bty.token=, which bty-web put in the
boot script): bty-web refuses reports without it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := mac.Parse(addr)
			if err != nil {
				return refused(err)
			}
			// In the live environment markers also go to the consoles the
			// boot tests and the operator watch.
			var mirrors []io.Writer
			if os.Getenv("BTY_LIVE") != "" {
				for _, c := range progress.Consoles() {
					defer c.Close()
					mirrors = append(mirrors, c)
				}
			}
			err = auto.Run(cmd.Context(), auto.Options{
				Server:   server,
				MAC:      m,
				Token:    os.Getenv("BTY_TOKEN"),
				Progress: progress.New(cmd.ErrOrStderr(), false, mirrors...),
				System:   System,
			})
			var fe *flash.Error
			if errors.As(err, &fe) {
				return &exitError{code: int(fe.Kind), err: err}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "bty-web base URL, e.g. http://10.0.0.1:8080")
	cmd.Flags().StringVar(&addr, "mac", "", "this machine's MAC address")
	_ = cmd.MarkFlagRequired("server")
	_ = cmd.MarkFlagRequired("mac")
	return cmd
}
