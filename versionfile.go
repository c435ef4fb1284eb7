// Package bty carries facts about the repository that every binary shares.
//
// It lives at the repository root only so that it can embed the VERSION file
// there: one file holds the release version for Bazel, plain `go build`, the
// wheel, the images and the release alike. Use package bty/version to read it.
package bty

import _ "embed"

// VersionFile is the content of the repository's VERSION file, as committed.
//
//go:embed VERSION
var VersionFile string
