// Command sbom writes one release artifact's SPDX 2.3 SBOM from what the
// build knows about it: the Go modules Bazel linked into each of its
// binaries (by repository, resolved through go.mod and go.sum), the
// pinned Debian packages it holds files of, and, for an OCI image tarball,
// its layers.
//
//	sbom -artifact FILE -version V -release-config config.toml -purpose P \
//	     -go-mod go.mod -go-sum go.sum \
//	     [-go-binary "NAME=REPO,REPO,..."]... [-deb metadata.json]... [-oci] -out FILE.spdx.json
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bty-lab/bty/internal/flags"
	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/release/report"
	"github.com/bty-lab/bty/tools/sbom/spdx"
)

func main() {
	var bins, debs flags.Strings
	artifact := flag.String("artifact", "", "the artifact the SBOM describes")
	version := flag.String("version", "", "the release version")
	releaseConfig := flag.String("release-config", "", "release/config.toml: the GitHub repository that publishes the release")
	purpose := flag.String("purpose", "FILE", "SPDX primary package purpose of the artifact (APPLICATION, CONTAINER, OPERATING-SYSTEM, ...)")
	license := flag.String("license", "", "the license of bty's own code (SPDX identifier)")
	gomod := flag.String("go-mod", "", "go.mod")
	gosum := flag.String("go-sum", "", "go.sum")
	oci := flag.Bool("oci", false, "the artifact is an OCI image layout tarball: list its layers")
	out := flag.String("out", "", "where to write the SBOM")
	flag.Var(&bins, "go-binary", `a Go program the artifact holds: "NAME=REPO,REPO,..." (the Bazel repositories of its Go code; repeat)`)
	flag.Var(&debs, "deb", "metadata.json of a Debian package the artifact holds files of (repeat)")
	flag.Parse()
	repository, err := repositoryOf(*releaseConfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
	if err := run(*artifact, *version, repository, *purpose, *license, *gomod, *gosum, *oci, bins, debs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

// repositoryOf reads the repository the release is published from.
func repositoryOf(path string) (string, error) {
	if path == "" {
		return "", errors.New("-release-config is required")
	}
	c, err := plan.LoadConfig(path)
	return c.GitHub.Repository, err
}

func run(artifact, version, repository, purpose, license, gomod, gosum string, oci bool, bins, debs []string, out string) error {
	if artifact == "" || version == "" || repository == "" || license == "" || out == "" {
		return errors.New("-artifact, -version, -release-config, -license and -out are required")
	}
	art, err := report.Digest(artifact)
	if err != nil {
		return err
	}
	b := spdx.New(art.Name, art.SHA256, version, purpose, repository, time.Unix(0, 0))
	if len(bins) > 0 {
		mod, err := os.ReadFile(gomod)
		if err != nil {
			return err
		}
		sums, err := os.ReadFile(gosum)
		if err != nil {
			return err
		}
		mods, err := spdx.ParseModules(mod, sums)
		if err != nil {
			return err
		}
		for _, bin := range bins {
			name, repos, ok := strings.Cut(bin, "=")
			if !ok {
				return fmt.Errorf("-go-binary %q: want NAME=REPO,REPO,...", bin)
			}
			linked, err := mods.ForRepos(strings.Split(repos, ","))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			b.GoBinary(name, mods.Main, version, license, mods.Toolchain, linked)
		}
	}
	for _, d := range debs {
		raw, err := os.ReadFile(d)
		if err != nil {
			return err
		}
		var deb spdx.Deb
		if err := json.Unmarshal(raw, &deb); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		b.Debian(deb)
	}
	if oci {
		f, err := os.Open(artifact)
		if err != nil {
			return err
		}
		defer f.Close()
		layers, err := spdx.OCILayers(f)
		if err != nil {
			return fmt.Errorf("%s: %w", artifact, err)
		}
		b.Layers(strings.TrimSuffix(filepath.Base(artifact), ".tar"), layers)
	}
	doc, err := b.JSON()
	if err != nil {
		return err
	}
	return os.WriteFile(out, doc, 0o644)
}
