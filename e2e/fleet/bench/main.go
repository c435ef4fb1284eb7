// Command bench measures what a rack of machines powering on at once asks
// of bty:
//
//	tools/bazel run //e2e/fleet/bench [-- -clients 1000 -replicas 2]
//
// It runs bty-web and bty-tftp from the release's OCI images on loopback,
// and Debian's nginx serving the same files as the anchor; boots -clients
// simulated machines at once against bty (TFTP, scripts, trio, plan,
// image, status reports, every sha256 checked), then the same file
// fetches against nginx, and prints throughput (bty vs the anchor), the
// per-MAC script's and each file's first-byte latency (p50, p99), TFTP
// transfers per second, and bty-web's peak memory and descriptors. It
// exits 1 when a client failed or a goal was missed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/bazelbuild/rules_go/go/runfiles"

	"github.com/bty-lab/bty/e2e/fleet"
)

func main() {
	clients := flag.Int("clients", 1000, "machines booting at once")
	replicas := flag.Int("replicas", 1, "bty-web replicas (more than one: on PostgreSQL, behind a TCP balancer)")
	image := flag.Int64("image-mib", fleet.DefaultSizes.Image>>20, "size of the disk image each machine fetches, MiB")
	flag.Parse()
	sizes := fleet.DefaultSizes
	sizes.Image = *image << 20
	rep, err := bench(*clients, *replicas, sizes)
	fmt.Print(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func layout(env string) ([]string, error) {
	var out []string
	for _, rel := range strings.Fields(os.Getenv(env)) {
		p, err := runfiles.Rlocation(rel)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is not set: run me with tools/bazel run //e2e/fleet/bench", env)
	}
	return out, nil
}

func bench(n, replicas int, sizes fleet.Sizes) (string, error) {
	web, err := layout("BTY_OCI_WEB")
	if err != nil {
		return "", err
	}
	tftp, err := layout("BTY_OCI_TFTP")
	if err != nil {
		return "", err
	}
	return fleet.Bench(context.Background(), fleet.Images{Web: web, TFTP: tftp}, sizes, n, replicas)
}
