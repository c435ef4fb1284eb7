// Command provenance writes the release's provenance,
// bty-v<ver>.intoto.jsonl, from //:verify's report inside the build (see
// release/provenance): the commit comes from the workspace status
// (STABLE_GIT_COMMIT), the builder from STABLE_BUILDER, the Bazel version
// from .bazelversion.
//
//	provenance -report verify.json -status stable-status.txt -bazel-version .bazelversion \
//	           -release-config config.toml -version V -out bty-vV.intoto.jsonl
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/bty-lab/bty/release/plan"
	"github.com/bty-lab/bty/release/provenance"
)

func main() {
	reportPath := flag.String("report", "", "//:verify's report")
	status := flag.String("status", "", "Bazel's stable workspace status file")
	bazelVersion := flag.String("bazel-version", "", "the .bazelversion file")
	releaseConfig := flag.String("release-config", "", "release/config.toml")
	version := flag.String("version", "", "the release version")
	out := flag.String("out", "", "where to write the statement")
	flag.Parse()
	if err := run(*reportPath, *status, *bazelVersion, *releaseConfig, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "provenance:", err)
		os.Exit(1)
	}
}

func run(reportPath, status, bazelVersion, releaseConfig, version, out string) error {
	if reportPath == "" || status == "" || bazelVersion == "" || releaseConfig == "" || version == "" || out == "" {
		return errors.New("-report, -status, -bazel-version, -release-config, -version and -out are required")
	}
	rep, err := os.ReadFile(reportPath)
	if err != nil {
		return err
	}
	keys, err := readStatus(status)
	if err != nil {
		return err
	}
	bv, err := os.ReadFile(bazelVersion)
	if err != nil {
		return err
	}
	c, err := plan.LoadConfig(releaseConfig)
	if err != nil {
		return err
	}
	st, err := provenance.New(rep, provenance.Inputs{
		Repository:   c.GitHub.Repository,
		Version:      version,
		Commit:       keys["STABLE_GIT_COMMIT"],
		BazelVersion: strings.TrimSpace(string(bv)),
		Builder:      keys["STABLE_BUILDER"],
	})
	if err != nil {
		return err
	}
	b, err := st.JSONL()
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// readStatus reads Bazel's "KEY value" status lines.
func readStatus(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		keys[k] = v
	}
	for _, k := range []string{"STABLE_GIT_COMMIT", "STABLE_BUILDER"} {
		if keys[k] == "" {
			return nil, fmt.Errorf("%s has no %s (tools/workspace_status.sh writes it)", path, k)
		}
	}
	return keys, nil
}
