// Command bty flashes disk images onto machines. Behaviour lives in package
// bty/cli; this main only wires the process to it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/bty-lab/bty/bty/cli"
)

// memoryLimit is the heap bty aims to stay under: the live environment
// runs from RAM, and a flash streams, so the garbage collector should
// collect early rather than let the heap double (measured: peak RSS 86 MiB
// decoding xz in parallel without it). GOMEMLIMIT overrides it.
const memoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bty:", err)
	}
	os.Exit(cli.ExitCode(err))
}
