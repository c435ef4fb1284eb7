// Package version is the one place binaries learn which release they are.
//
// The release version comes from the VERSION file at the repository root,
// compiled in (embedded), so every build path — Bazel, plain `go build`,
// `go test` — stamps the same string without flags. A link-time override
// (-X .../bty/version.override=...) exists for ad-hoc builds of a tag.
package version

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/bty-lab/bty"
)

// override, when set at link time, replaces the VERSION file's value.
var override string

// semver is the accepted shape: MAJOR.MINOR.PATCH with an optional
// pre-release, as PyPI, OCI tags and git tags all accept it.
var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// Parse validates a version string as it appears in the VERSION file (one
// line, surrounding white space ignored) and returns it trimmed.
func Parse(s string) (string, error) {
	v := strings.TrimSpace(s)
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("version %q: must be a single line", s)
	}
	if !semver.MatchString(v) {
		return "", fmt.Errorf("version %q: want MAJOR.MINOR.PATCH (e.g. 1.4.0), optionally with -PRERELEASE", v)
	}
	return v, nil
}

// String returns the release version this binary was built as, e.g. "1.4.0".
// A malformed VERSION file is caught by this package's tests, so at run time
// it degrades to reporting the raw text rather than failing a flash.
func String() string {
	if override != "" {
		return override
	}
	v, err := Parse(bty.VersionFile)
	if err != nil {
		return strings.TrimSpace(bty.VersionFile)
	}
	return v
}
