package flags

import (
	"flag"
	"slices"
	"testing"
)

func TestStrings(t *testing.T) {
	var got Strings
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(&got, "x", "")
	if err := fs.Parse([]string{"-x", "a", "-x", "b c", "-x", "a"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "b c", "a"}) || got.String() != "a b c a" {
		t.Errorf("got %q (%s)", []string(got), got.String())
	}
}
