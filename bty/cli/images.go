package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bty-lab/bty/bty/imageroot"
	"github.com/bty-lab/bty/bty/progress"
)

func newImagesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "images [DIR]",
		Short: "list the images in an image root (default " + imageroot.Default + ")",
		Long: `images lists the disk images in DIR with their format, size and the
sha256 from a NAME.sha256 sidecar file, if one exists; then the entries of
DIR/catalog.toml, if there is one, apart: they are fetched over the network.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := imageroot.Default
			if len(args) == 1 {
				dir = args[0]
			}
			root, err := imageroot.Read(dir)
			if root == nil {
				return refused(err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tFORMAT\tSIZE\tSHA256")
			for _, f := range root.Files {
				sum := f.SHA256
				switch {
				case f.SidecarErr != nil:
					sum = "(unreadable .sha256)"
				case sum == "":
					sum = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Name, f.Format, progress.Bytes(f.Size), sum)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(root.Files) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no images in %s (names must end in .img, .img.gz, .img.zst, .img.xz, .img.bz2 or .qcow2)\n", dir)
			}
			if err != nil { // the catalog
				return refused(err)
			}
			if root.Catalog == nil {
				return nil
			}
			w = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "\nCATALOG ENTRY (%s, needs the network)\tFORMAT\tSIZE\tSOURCE\n", imageroot.CatalogFile)
			for _, img := range root.Catalog.Images {
				size := "-"
				if img.SizeBytes > 0 {
					size = progress.Bytes(img.SizeBytes)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", img.Name, img.Format, size, img.Src)
			}
			return w.Flush()
		},
	}
}
