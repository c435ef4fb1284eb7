// Package flags holds the flag type the build tools share: a flag given
// once per value (-module a -module b), which the standard library lacks.
package flags

import "strings"

// Strings is a repeatable string flag: each use appends its value, in the
// order given.
type Strings []string

// String joins the values with spaces.
func (s *Strings) String() string { return strings.Join(*s, " ") }

// Set appends v.
func (s *Strings) Set(v string) error {
	*s = append(*s, v)
	return nil
}
