// Command update re-pins every Debian package MODULE.bazel fetches to the
// version the mirror has now: filename, sha256 and the snapshot archive
// timestamp that keeps the file fetchable after the mirror drops it.
//
//	tools/bazel run //tools/debian:update            # rewrite MODULE.bazel
//	tools/bazel run //tools/debian:update -- -n      # only show what would change
//
// The mirror is the one tools/debian/mirror.sh finds (the machine's apt
// sources, or BTY_DEBIAN_MIRROR).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bty-lab/bty/tools/debian/pins"
)

func main() {
	ws := os.Getenv("BUILD_WORKSPACE_DIRECTORY")
	module := flag.String("module", filepath.Join(ws, "MODULE.bazel"), "the MODULE.bazel to update")
	mirror := flag.String("mirror", "", "the Debian mirror (default: what tools/debian/mirror.sh finds)")
	suite := flag.String("suite", "sid", "the suite the pins come from")
	dryRun := flag.Bool("n", false, "print the changes, write nothing")
	flag.Parse()
	if *mirror == "" {
		out, err := exec.Command("/bin/sh", filepath.Join(ws, "tools/debian/mirror.sh")).Output()
		if err != nil {
			fail("finding the mirror with tools/debian/mirror.sh: %v", err)
		}
		*mirror = strings.TrimSpace(string(out))
	}
	changed, err := pins.Update(&http.Client{Timeout: 5 * time.Minute}, *module, strings.TrimSuffix(*mirror, "/"), *suite, *dryRun)
	if err != nil {
		fail("%v", err)
	}
	for _, c := range changed {
		fmt.Println(c)
	}
	if len(changed) == 0 {
		fmt.Println("every pin is current")
	} else if !*dryRun {
		fmt.Printf("%s updated; build and test before committing: tools/bazel test //...\n", *module)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "update: "+format+"\n", args...)
	os.Exit(1)
}
