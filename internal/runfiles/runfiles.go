// Package runfiles finds the files a `bazel run` binary declared as data:
// Bazel sets RUNFILES_DIR, or leaves the runfiles tree beside the binary.
package runfiles

import (
	"fmt"
	"os"
	"path/filepath"
)

// Path resolves rel, a runfiles path as $(rlocationpath) writes it, to an
// absolute file path.
func Path(rel string) (string, error) {
	if rel == "" {
		return "", fmt.Errorf("no runfiles path given (run the binary with bazel run)")
	}
	for _, base := range []string{os.Getenv("RUNFILES_DIR"), os.Args[0] + ".runfiles"} {
		if base == "" {
			continue
		}
		p := filepath.Join(base, rel)
		if _, err := os.Stat(p); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", fmt.Errorf("%s not found in the runfiles (run the binary with bazel run)", rel)
}
