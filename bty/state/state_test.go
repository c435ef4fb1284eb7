package state

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
	"github.com/bty-lab/bty/internal/testenv"
)

func TestReopenKeepsState(t *testing.T) { eachStore(t, testReopenKeepsState) }

func testReopenKeepsState(t *testing.T, path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	addr := mac.Addr("52:54:00:11:22:33")
	_, err = s.Update(ctx, addr, func(m provision.Machine, ok bool) (Change, error) {
		if ok {
			t.Error("machine exists before creation")
		}
		n := provision.New(addr)
		n.Labels["rack"] = "r1"
		n.Flash = provision.Flash{State: provision.FlashRunning, Stage: "write", Done: 5, Total: 10, Fraction: 0.5, Elapsed: 2}
		return Change{Machine: &n, Kind: "machine.created"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutImage(ctx, Image{Ref: "r1", Name: "a.img", Src: "file://a.img", Format: "img", Uploaded: true}, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutImage(ctx, Image{Ref: "r2", Name: "a.img", Src: "https://h/a.img", Format: "img"}, "admin"); !errors.Is(err, ErrExists) {
		t.Errorf("registering a taken name: %v, want ErrExists", err)
	}
	secret, err := s.Setting(ctx, "k", func() ([]byte, error) { return []byte("v1"), nil })
	if err != nil || string(secret) != "v1" {
		t.Fatalf("Setting = %q, %v", secret, err)
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Machine(ctx, addr)
	if err != nil || m.Labels["rack"] != "r1" || m.BootMode != provision.ModeInventory || m.Flash.Fraction != 0.5 || m.Flash.Stage != "write" {
		t.Errorf("machine after reopen = %+v, %v", m, err)
	}
	if img, err := s.ImageByRef(ctx, "r1"); err != nil || img.Name != "a.img" {
		t.Errorf("image after reopen = %+v, %v", img, err)
	}
	if v, _ := s.Setting(ctx, "k", func() ([]byte, error) { return []byte("v2"), nil }); string(v) != "v1" {
		t.Errorf("setting changed on reopen: %q", v)
	}
	ev, err := s.Events(ctx, 0, 100)
	if err != nil || len(ev) != 2 || ev[0].Kind != "machine.created" || ev[1].Kind != "image.added" {
		t.Errorf("events = %+v, %v", ev, err)
	}
	if _, err := s.Machine(ctx, "52:54:00:00:00:00"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing machine: %v", err)
	}
}

// A machine's history and every machine's last event, for the web UI.
func TestMachineEvents(t *testing.T) { eachStore(t, testMachineEvents) }

func testMachineEvents(t *testing.T, path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, err := s.LastEventID(ctx); id != 0 || err != nil {
		t.Errorf("LastEventID of an empty log = %d, %v", id, err)
	}
	a, b := mac.Addr("52:54:00:00:00:0a"), mac.Addr("52:54:00:00:00:0b")
	for _, e := range []struct {
		kind EventKind
		addr mac.Addr
	}{{EventPXEOffer, a}, {EventLogin, ""}, {EventPXEOffer, b}, {EventFlashArmed, a}, {EventFlashDone, a}} {
		if err := s.Log(ctx, e.kind, e.addr, "", struct{}{}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := s.MachineEvents(ctx, a, 2)
	if err != nil || len(ev) != 2 || ev[0].Kind != "flash.done" || ev[1].Kind != "flash.armed" {
		t.Errorf("a's newest two: %+v, %v", ev, err)
	}
	if id, err := s.LastEventID(ctx); id != 5 || err != nil {
		t.Errorf("LastEventID = %d, %v; want 5", id, err)
	}
	last, err := s.LastEvents(ctx)
	if err != nil || len(last) != 2 || last[a].Kind != "flash.done" || last[b].Kind != "pxe.offer" {
		t.Errorf("last events: %+v, %v", last, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) { eachStore(t, testNewerSchemaRefused) }

func testNewerSchemaRefused(t *testing.T, path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.d.setVersion(ctx, tx, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); err == nil {
		t.Error("opened a database from a newer bty-web")
	}
}

// Updates arriving together are group-committed: each still sees the ones
// before it (a label counts every update of one machine), and one that
// fails changes nothing while the rest of its batch is kept.
func TestConcurrentUpdates(t *testing.T) { eachStore(t, testConcurrentUpdates) }

func testConcurrentUpdates(t *testing.T, path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs := []mac.Addr{"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"}
	const each = 200
	errBad := errors.New("refused")
	var wg sync.WaitGroup
	for i := 0; i < each*len(addrs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := addrs[i%len(addrs)]
			_, err := s.Update(ctx, addr, func(m provision.Machine, ok bool) (Change, error) {
				if !ok {
					m = provision.New(addr)
				}
				if i == 7 {
					return Change{}, errBad
				}
				m.Labels["n"] = strconv.Itoa(atoiOr0(m.Labels["n"]) + 1)
				return Change{Machine: &m, Kind: "counted"}, nil
			})
			if (i == 7) != errors.Is(err, errBad) {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i, addr := range addrs {
		want := each
		if i == 7%len(addrs) {
			want--
		}
		m, err := s.Machine(ctx, addr)
		if err != nil || m.Labels["n"] != strconv.Itoa(want) {
			t.Errorf("%s counted %q (%v), want %d", addr, m.Labels["n"], err, want)
		}
	}
	if ev, _ := s.Events(ctx, 0, 10000); len(ev) != each*len(addrs)-1 {
		t.Errorf("%d events, want %d", len(ev), each*len(addrs)-1)
	}
	s.Close()
	if _, err := s.Update(ctx, addrs[0], func(m provision.Machine, ok bool) (Change, error) { return Change{}, nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("an update after Close: %v", err)
	}
}

// eachStore runs test against both stores: a SQLite file, and a
// PostgreSQL server of the test's own (the same schema semantics, so the
// same tests).
// SQLite's and PostgreSQL's schemas are the same: the same tables with
// the same columns in the same order, each NOT NULL alike, and each
// column's type, as each database reports it, one of the schema's types
// (schemaTypes, or TEXT) in both dialects.
func TestSchemasAgree(t *testing.T) {
	ctx := context.Background()
	var got [2][]Column
	dialects := [2]dialect{sqliteDB{}, postgres{}}
	for i, where := range []string{filepath.Join(t.TempDir(), "state.db"), testenv.Postgres(t)} {
		s, err := Open(ctx, where)
		if err != nil {
			t.Fatal(err)
		}
		if got[i], err = s.Schema(ctx); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if len(got[0]) == 0 || len(got[0]) != len(got[1]) {
		t.Fatalf("SQLite has %d columns, PostgreSQL %d:\n%v\n%v", len(got[0]), len(got[1]), got[0], got[1])
	}
	// sameType: some type of the schema is spelt so by both databases.
	sameType := func(lite, pg string) bool {
		for _, typ := range append(schemaTypes, "TEXT") {
			l, p := dialects[0].types()[typ], dialects[1].types()[typ]
			if typ == "TEXT" {
				l, p = "TEXT", "text"
			}
			// Reported types drop the column constraints the dialect
			// writes after them (PRIMARY KEY ...), and PostgreSQL spells
			// them in lower case (BIGSERIAL is a bigint with a sequence).
			l, _, _ = strings.Cut(l, " ")
			p, _, _ = strings.Cut(p, " ")
			p = strings.NewReplacer("BIGSERIAL", "bigint", "BIGINT", "bigint", "BOOLEAN", "boolean", "BYTEA", "bytea").Replace(p)
			if l == lite && p == pg {
				return true
			}
		}
		return false
	}
	for i, lite := range got[0] {
		pg := got[1][i]
		if lite.Table != pg.Table || lite.Name != pg.Name || lite.NotNull != pg.NotNull || !sameType(lite.Type, pg.Type) {
			t.Errorf("column %d: SQLite %+v, PostgreSQL %+v", i, lite, pg)
		}
	}
}

func eachStore(t *testing.T, test func(t *testing.T, where string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, filepath.Join(t.TempDir(), "state.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, testenv.Postgres(t)) })
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Two bty-web replicas are two Stores on one PostgreSQL server: their
// updates of one machine, all at once, each count once (the row lock and
// the transactions do for replicas what the state dir's lock does for
// SQLite).
func TestTwoWriters(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	addr := mac.Addr("52:54:00:00:00:01")
	const each = 100
	var wg sync.WaitGroup
	for i := 0; i < 2*each; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := stores[i%2].Update(ctx, addr, func(m provision.Machine, ok bool) (Change, error) {
				if !ok {
					m = provision.New(addr)
				}
				m.Labels["n"] = strconv.Itoa(atoiOr0(m.Labels["n"]) + 1)
				return Change{Machine: &m, Kind: "counted"}, nil
			})
			if err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i, s := range stores {
		m, err := s.Machine(ctx, addr)
		if err != nil || m.Labels["n"] != strconv.Itoa(2*each) {
			t.Errorf("store %d reads n=%q (%v), want %d", i, m.Labels["n"], err, 2*each)
		}
	}
}

// A PostgreSQL URL's password never reaches an error: in the user info or
// as a password= parameter, percent-encoded or not, in a URL that parses
// and in one that does not (issue 31: the last three were shown).
func TestOpenErrorsHidePasswords(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String() // nothing listens there once closed
	ln.Close()
	for _, c := range []struct{ url, secret string }{
		{"postgres://bty:s3cretpw@" + closed + "/bty", "s3cretpw"},
		{"postgres://bty@" + closed + "/bty?password=s3cretpw", "s3cretpw"},
		{"postgres://bty@" + closed + "/bty?sslmode=disable&PASSWORD=s3cretpw", "s3cretpw"},
		{"postgres://bty:s3cret%21pw@" + closed + "/bty", "s3cret!pw"},
		{"postgres://bty:s3cretpw@" + closed + "/bty?sslmode=bogus", "s3cretpw"},
		{"postgres://bty:s3cret pw@[::1:1/bty", "s3cret pw"},
		{"postgres://bty:s3cretpw@" + closed + "/bty%zz", "s3cretpw"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := Open(ctx, c.url)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("%s opened", c.url)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, c.secret) || strings.Contains(msg, "s3cret") || !strings.Contains(msg, "xxxxx") {
			t.Errorf("the error shows the password, or does not say it was hidden: %s", msg)
		}
	}
}

// The audit log keeps MaxEvents of each origin: any number of events from
// the network leaves the operator's records, and each origin keeps its
// newest.
func TestRetentionByOrigin(t *testing.T) { eachStore(t, testRetentionByOrigin) }

func testRetentionByOrigin(t *testing.T, where string) {
	ctx := context.Background()
	s, err := Open(ctx, where)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.MaxEvents = 5
	addr := mac.Addr("52:54:00:00:00:0a")
	s.Log(ctx, EventLogin, "", "192.0.2.1", struct{}{})
	for range 50 {
		s.Log(ctx, EventPXEOffer, addr, "", struct{}{})
		s.Log(ctx, EventLoginFailed, "", "192.0.2.66", struct{}{})
	}
	ev, err := s.Events(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 6 || ev[0].Kind != EventLogin || ev[0].Origin != OriginOperator {
		t.Fatalf("after 100 events from the network: %+v; want the login and the newest 5", ev)
	}
	for _, e := range ev[1:] {
		if e.Origin != OriginNetwork {
			t.Errorf("%+v: want origin network", e)
		}
	}
	for range 7 {
		s.Log(ctx, EventMachineSaved, addr, "admin", struct{}{})
	}
	if ev, _ = s.Events(ctx, 0, 1000); len(ev) != 10 || ev[0].Origin != OriginNetwork {
		t.Errorf("after 7 operator events: %d events, the oldest %+v; want 5 of each", len(ev), ev[0])
	}
}

// The SQLite file and its WAL and shared-memory files are the owner's
// alone (issue 31: created world-readable), also a file made before.
func TestSQLiteFilesPrivate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	older := filepath.Join(dir, "older.db")
	if err := os.WriteFile(older, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "state.db"), older} {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetSetting(ctx, "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v; want the owner's alone", filepath.Base(f), fi.Mode().Perm())
			}
		}
		s.Close()
	}
}
