package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/progress"
)

// DefaultImageRoot is where the live environment mounts its images.
const DefaultImageRoot = "/var/lib/bty/images"

var sidecarDigest = regexp.MustCompile(`^([0-9a-fA-F]{64})\b`)

func newImagesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "images [DIR]",
		Short: "list the images in an image root (default " + DefaultImageRoot + ")",
		Long: `images lists the disk images in DIR with their format, size and the
sha256 from a NAME.sha256 sidecar file, if one exists; then the entries of
DIR/catalog.toml, if there is one, apart: they are fetched over the network.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := DefaultImageRoot
			if len(args) == 1 {
				dir = args[0]
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				return refused(fmt.Errorf("listing images: %w", err))
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tFORMAT\tSIZE\tSHA256")
			n := 0
			for _, e := range entries {
				format, err := catalog.FormatFromName(e.Name())
				if err != nil || !e.Type().IsRegular() {
					continue
				}
				info, err := e.Info()
				if err != nil {
					continue
				}
				sum := "-"
				if b, err := os.ReadFile(filepath.Join(dir, e.Name()+".sha256")); err == nil {
					if m := sidecarDigest.FindStringSubmatch(strings.TrimSpace(string(b))); m != nil {
						sum = strings.ToLower(m[1])
					} else {
						sum = "(unreadable .sha256)"
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.Name(), format, progress.Bytes(info.Size()), sum)
				n++
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no images in %s (names must end in .img, .img.gz, .img.zst, .img.xz, .img.bz2 or .qcow2)\n", dir)
			}
			return listCatalog(cmd, filepath.Join(dir, "catalog.toml"))
		},
	}
}

// listCatalog lists the entries of the catalog file at path, if it exists.
// Every entry's source is http(s):// or oras://, so each needs the network.
func listCatalog(cmd *cobra.Command, path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	c, err := catalog.Load(path)
	if err != nil {
		return refused(err)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "\nCATALOG ENTRY (%s, needs the network)\tFORMAT\tSIZE\tSOURCE\n", filepath.Base(path))
	for _, img := range c.Images {
		size := "-"
		if img.SizeBytes > 0 {
			size = progress.Bytes(img.SizeBytes)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", img.Name, img.Format, size, img.Src)
	}
	return w.Flush()
}
