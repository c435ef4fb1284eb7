package testenv

import (
	"testing"

	"github.com/bty-lab/bty/internal/postgres"
)

// Postgres starts a PostgreSQL server of the test's own (package
// internal/postgres) and returns its URL; it stops with the test, and its
// log is shown if the test failed.
func Postgres(t testing.TB) string {
	t.Helper()
	s, err := postgres.Start()
	Require(t, "PostgreSQL", err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", s.Bin, s.Log())
		}
		s.Stop()
	})
	return s.URL
}
