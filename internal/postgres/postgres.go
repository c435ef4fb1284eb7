// Package postgres runs a PostgreSQL server of its own for tests and
// benches: Debian's package (initdb and postgres from
// /usr/lib/postgresql/<ver>/bin), as the postgres user (the server refuses
// root), on a temporary directory and a free loopback port, role bty with
// no password (trust; loopback only).
package postgres

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bty-lab/bty/internal/freeport"
)

// Server is a running PostgreSQL.
type Server struct {
	URL  string // postgres://bty@127.0.0.1:PORT/postgres?sslmode=disable
	Bin  string // the postgres binary
	dir  string
	proc *exec.Cmd
	log  *os.File
}

// Start initialises and starts a server; its files live under /tmp (the
// postgres user cannot reach a test's own directory under /root).
func Start() (*Server, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		return nil, errors.New("no /usr/lib/postgresql/*/bin/postgres; install it: apt-get install postgresql")
	}
	s := &Server{Bin: bins[len(bins)-1]}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the postgres user: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("running PostgreSQL as its own user needs root")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if s.dir, err = os.MkdirTemp("/tmp", "bty-postgres-"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if err := os.Chown(s.dir, uid, gid); err != nil {
		return nil, err
	}
	as := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	bin := filepath.Dir(s.Bin)
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(s.dir, "data"), "-U", "bty", "--auth=trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = as
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freeport.TCP()
	if err != nil {
		return nil, err
	}
	if s.log, err = os.Create(filepath.Join(s.dir, "postgres.log")); err != nil {
		return nil, err
	}
	s.proc = exec.Command(s.Bin, "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	s.proc.SysProcAttr = as
	s.proc.Stdout, s.proc.Stderr = s.log, s.log
	if err := s.proc.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.Bin, err)
	}
	// Ready is when it accepts connections, not when it listens (it
	// answers "starting up" in between).
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "bty", "-d", "postgres")
		if ready.Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("PostgreSQL did not accept connections on port %d within 30 s; its log: %s", port, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.URL = fmt.Sprintf("postgres://bty@127.0.0.1:%d/postgres?sslmode=disable", port)
	ok = true
	return s, nil
}

// Log is what the server printed.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return string(b)
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	if s.proc != nil && s.proc.Process != nil {
		s.proc.Process.Kill()
		s.proc.Wait()
	}
	if s.log != nil {
		s.log.Close()
	}
	os.RemoveAll(s.dir)
}
