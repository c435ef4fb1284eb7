package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Postgres starts a PostgreSQL server of its own for the test (Debian's
// package: initdb and postgres from /usr/lib/postgresql/<ver>/bin, run as
// the postgres user, since the server refuses root) on a temporary
// directory and a free loopback port, and returns its URL; role bty, no
// password (trust, loopback only). It stops with the test.
func Postgres(t testing.TB) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		Require(t, "PostgreSQL", errors.New("no /usr/lib/postgresql/*/bin/postgres; install it: apt-get install postgresql"))
	}
	bin := bins[len(bins)-1]
	u, err := user.Lookup("postgres")
	Require(t, "the postgres user", err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	Require(t, "root (to run PostgreSQL as its own user)", func() error {
		if os.Geteuid() != 0 {
			return errors.New("not root")
		}
		return nil
	}())
	// Under /tmp: the postgres user cannot reach the test's own temporary
	// directory under Bazel's output base (/root is closed to it).
	dir, err := os.MkdirTemp("/tmp", "bty-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	as := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	initdb := exec.Command(filepath.Join(filepath.Dir(bin), "initdb"), "-D", filepath.Join(dir, "data"), "-U", "bty", "--auth=trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = as
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := FreePort(t)
	srv := exec.Command(bin, "-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	srv.SysProcAttr = as
	Start(t, srv)
	deadline := time.Now().Add(30 * time.Second)
	// Ready is when it accepts connections, not when it listens (it
	// answers "starting up" in between).
	for {
		ready := exec.Command(filepath.Join(filepath.Dir(bin), "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port))
		if ready.Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not accept connections on port %d within 30 s", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://bty@127.0.0.1:%d/postgres?sslmode=disable", port)
}
