// Package state keeps bty-web's machines, images, events and settings in
// SQLite (modernc.org/sqlite: pure Go, so bty-web stays a static binary for
// amd64 and arm64), or in PostgreSQL (pgx, also pure Go) for replicas that
// share one state. What the two do differently lives in one dialect
// (dialect.go); the queries and the schema are written once.
//
// The schema is versioned and moved forward by migrations in order; an
// existing database is never wiped. Every read-modify-write of a machine,
// together with the event it logs, runs in the one writer goroutine (see
// Update), so machines' changes are serialized; reads run beside it on
// their own connections.
package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bty-lab/bty/bty/catalog"
	"github.com/bty-lab/bty/bty/mac"
	"github.com/bty-lab/bty/bty/provision"
)

// ErrNotFound marks a missing machine or image.
var ErrNotFound = errors.New("not found")

// ErrExists marks a name already taken.
var ErrExists = errors.New("already exists")

// migrations[i] moves the schema from version i to i+1, in SQL both
// databases take; the dialect fills in the column types of schemaTypes.
var migrations = []string{
	`CREATE TABLE settings (key TEXT PRIMARY KEY, value {{bytes}} NOT NULL);
	CREATE TABLE machines (
		mac TEXT PRIMARY KEY,
		image_ref TEXT NOT NULL DEFAULT '',
		boot_mode TEXT NOT NULL,
		target_disk_serial TEXT NOT NULL DEFAULT '',
		labels TEXT NOT NULL DEFAULT '{}',
		armed {{bool}} NOT NULL DEFAULT false,
		flashed {{bool}} NOT NULL DEFAULT false,
		inventoried {{bool}} NOT NULL DEFAULT false,
		inventory TEXT,
		updated_at TEXT NOT NULL
	);
	CREATE TABLE images (
		ref TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		src TEXT NOT NULL,
		format TEXT NOT NULL,
		size_bytes {{int64}} NOT NULL DEFAULT 0,
		sha256 TEXT NOT NULL DEFAULT '',
		arch TEXT NOT NULL DEFAULT '',
		uploaded {{bool}} NOT NULL,
		created_at TEXT NOT NULL
	);
	CREATE TABLE events (
		id {{id}},
		at TEXT NOT NULL,
		kind TEXT NOT NULL,
		mac TEXT NOT NULL DEFAULT '',
		actor TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT '{}'
	);`,
	// What each machine said of itself on its last PXE boot.
	`ALTER TABLE machines ADD COLUMN arch TEXT NOT NULL DEFAULT '';
	ALTER TABLE machines ADD COLUMN firmware TEXT NOT NULL DEFAULT '';`,
	// What the machine's flasher last reported (provision.Flash, JSON), and
	// each machine's events found without a scan (the web UI's history).
	`ALTER TABLE machines ADD COLUMN flash TEXT NOT NULL DEFAULT '{}';
	CREATE INDEX events_mac ON events (mac, id);`,
	// Each event's origin, and its number among its origin's events: the
	// retention keeps limits.max_events of each origin (EventKind.Origin).
	// Earlier events keep their id as their number: increasing, so never
	// more than the newest limits.max_events are kept.
	`ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT 'network';
	ALTER TABLE events ADD COLUMN seq {{int64}} NOT NULL DEFAULT 0;
	UPDATE events SET seq = id;
	UPDATE events SET origin = 'operator' WHERE kind IN (` + operatorKindsSQL() + `);
	CREATE INDEX events_origin ON events (origin, seq);`,
	// Each machine's live boot (provision.Session, JSON): its token's
	// digest and what the token has proved.
	`ALTER TABLE machines ADD COLUMN session TEXT NOT NULL DEFAULT '{}';`,
	// Each machine's cloud-init settings and its deployment
	// (provision.Deployment, JSON).
	`ALTER TABLE machines ADD COLUMN cloud_init {{bool}} NOT NULL DEFAULT true;
	ALTER TABLE machines ADD COLUMN network_config TEXT NOT NULL DEFAULT '';
	ALTER TABLE machines ADD COLUMN deployment TEXT NOT NULL DEFAULT '{}';`,
	// Each machine's BMC (bmcRow, JSON: its password sealed).
	`ALTER TABLE machines ADD COLUMN bmc TEXT NOT NULL DEFAULT '{}';`,
}

// bmcRow is a machine's BMC as stored: with the sealed password, which
// provision.BMC keeps out of every answer.
type bmcRow struct {
	Protocol string    `json:"protocol,omitempty"`
	Address  string    `json:"address,omitempty"`
	User     string    `json:"user,omitempty"`
	Sealed   string    `json:"sealed,omitempty"`
	Power    *bool     `json:"power,omitempty"`
	PowerAt  time.Time `json:"power_at,omitzero"`
}

// operatorKindsSQL lists the operator's event kinds as SQL strings.
func operatorKindsSQL() string {
	var q []string
	for _, k := range operatorKinds {
		q = append(q, "'"+string(k)+"'")
	}
	return strings.Join(q, ", ")
}

// Store is the state database.
type Store struct {
	db *db
	// Now stamps machines and events (UTC); tests and the guide's pictures
	// set a fixed clock.
	Now func() time.Time
	// MaxEvents is how many audit events of each origin are kept (0: all);
	// each new event prunes the oldest of its origin beyond it.
	MaxEvents int64

	updates       chan *update // to the writer
	quit, stopped chan struct{}
}

// Open opens (creating or migrating) the state database: a PostgreSQL
// server for a postgres:// or postgresql:// URL (which several bty-web
// replicas can share), else the SQLite file at that path.
func Open(ctx context.Context, where string) (*Store, error) {
	d := &db{d: dialectFor(where)}
	var err error
	d.DB, err = d.d.open(where)
	if err != nil {
		return nil, openError(where, err)
	}
	d.SetMaxOpenConns(4)
	s := &Store{db: d, Now: func() time.Time { return time.Now().UTC() },
		updates: make(chan *update), quit: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		d.Close()
		return nil, openError(where, err)
	}
	go s.writer()
	return s, nil
}

// Shared reports whether several bty-web replicas may use this store at
// once (PostgreSQL); else it is one bty-web's alone (SQLite).
func (s *Store) Shared() bool { return s.db.d.shared() }

// Schema lists the store's columns as its database reports them: the
// proof that SQLite's and PostgreSQL's schemas are the same.
func (s *Store) Schema(ctx context.Context) ([]Column, error) { return s.db.d.columns(ctx, s.db) }

// secrets finds the passwords a PostgreSQL URL may carry, also in one
// that does not parse: after the user name, and as a password= parameter.
var secrets = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/@?#:]*:([^@]*)@|[?&](?i:password)=([^&#]*)`)

// redact replaces every password where holds with xxxxx in text: a
// password must never reach a log or an error, whether the URL parses or
// not, and whichever library's message quotes it.
func redact(where, text string) string {
	for _, m := range secrets.FindAllStringSubmatch(where, -1) {
		for _, pw := range m[1:] {
			if pw != "" {
				text = strings.ReplaceAll(text, pw, "xxxxx")
				if dec, err := url.QueryUnescape(pw); err == nil && dec != pw && dec != "" {
					text = strings.ReplaceAll(text, dec, "xxxxx")
				}
			}
		}
	}
	return text
}

// openError is a failure to open the state at where, with its passwords
// redacted from the whole message. It wraps nothing: the driver's own
// error may quote the URL, and no caller may reach its text.
func openError(where string, err error) error {
	return errors.New(redact(where, fmt.Sprintf("state %s: %v", where, err)))
}

// SchemaVersion is the schema version this build writes.
func SchemaVersion() int { return len(migrations) }

// migrate moves the schema forward, each step with its version in one
// transaction (replicas starting together take turns: see
// dialect.version).
func (s *Store) migrate(ctx context.Context) error {
	types := s.db.d.types()
	for {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		v, err := s.db.d.version(ctx, tx)
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("reading schema version: %w", err)
		}
		if v > len(migrations) {
			tx.Rollback()
			return fmt.Errorf("schema version %d is newer than this bty-web (%d); upgrade bty-web", v, len(migrations))
		}
		if v == len(migrations) {
			return tx.Commit()
		}
		step := migrations[v]
		for _, t := range schemaTypes {
			step = strings.ReplaceAll(step, t, types[t])
		}
		if _, err := tx.ExecContext(ctx, step); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating schema %d to %d: %w", v, v+1, err)
		}
		if err := s.db.d.setVersion(ctx, tx, v+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

// Close stops the writer (updates after it get ErrClosed) and closes the
// database.
func (s *Store) Close() error {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.stopped
	return s.db.Close()
}

// CheckWritable proves that the database takes a write now (a read-only
// file or a full disk fail here, not at the next machine's boot).
func (s *Store) CheckWritable(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('write_check', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", []byte(s.Now().Format(time.RFC3339Nano)))
	if err != nil {
		return fmt.Errorf("the state database cannot be written: %w", err)
	}
	return nil
}

// SetSetting replaces a setting.
func (s *Store) SetSetting(ctx context.Context, key string, value []byte) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return err
}

// CountMachines returns how many machines are stored.
func (s *Store) CountMachines(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM machines").Scan(&n)
	return n, err
}

// Setting returns a stored setting, creating it with make() if absent.
func (s *Store) Setting(ctx context.Context, key string, make func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if v, err = make(); err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, v); err != nil {
		return nil, err
	}
	return s.Setting(ctx, key, make)
}

// Event is one line of the audit log.
type Event struct {
	ID     int64           `json:"id"`
	At     time.Time       `json:"at"`
	Kind   EventKind       `json:"kind"`
	Origin Origin          `json:"origin"`
	MAC    string          `json:"mac,omitempty"`
	Actor  string          `json:"actor,omitempty"`
	Detail json.RawMessage `json:"detail"`
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) logTo(ctx context.Context, x execer, kind EventKind, addr mac.Addr, actor string, detail any) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	origin := kind.Origin()
	var seq int64
	err = x.QueryRowContext(ctx, `INSERT INTO events (at, kind, mac, actor, detail, origin, seq)
		VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE origin = ?)) RETURNING seq`,
		s.Now().Format(time.RFC3339Nano), string(kind), string(addr), actor, string(d), string(origin), string(origin)).Scan(&seq)
	if err != nil || s.MaxEvents <= 0 {
		return err
	}
	// Retention, by origin: numbers only grow, so the oldest are those
	// more than MaxEvents below the newest (an index range delete).
	_, err = x.ExecContext(ctx, "DELETE FROM events WHERE origin = ? AND seq <= ?", string(origin), seq-s.MaxEvents)
	return err
}

// Log appends an event.
func (s *Store) Log(ctx context.Context, kind EventKind, addr mac.Addr, actor string, detail any) error {
	return s.logTo(ctx, s.db, kind, addr, actor, detail)
}

// Events returns events with id > after, oldest first, at most limit.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]Event, error) {
	return s.queryEvents(ctx, "SELECT id, at, kind, origin, mac, actor, detail FROM events WHERE id > ? ORDER BY id LIMIT ?", after, limit)
}

// LastEventID is the newest event's id (0: none), where a reader of the
// log who wants only what comes next starts.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT MAX(id) FROM events").Scan(&id)
	return id.Int64, err
}

// MachineEvents returns addr's newest events, newest first, at most limit.
func (s *Store) MachineEvents(ctx context.Context, addr mac.Addr, limit int) ([]Event, error) {
	return s.queryEvents(ctx, "SELECT id, at, kind, origin, mac, actor, detail FROM events WHERE mac = ? ORDER BY id DESC LIMIT ?", string(addr), limit)
}

// LastEvents returns each machine's newest event, by MAC.
func (s *Store) LastEvents(ctx context.Context) (map[mac.Addr]Event, error) {
	ev, err := s.queryEvents(ctx, `SELECT id, at, kind, origin, mac, actor, detail FROM events
		WHERE id IN (SELECT MAX(id) FROM events WHERE mac != '' GROUP BY mac)`)
	if err != nil {
		return nil, err
	}
	out := make(map[mac.Addr]Event, len(ev))
	for _, e := range ev {
		out[mac.Addr(e.MAC)] = e
	}
	return out, nil
}

func (s *Store) queryEvents(ctx context.Context, query string, args ...any) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var at, detail string
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Origin, &e.MAC, &e.Actor, &detail); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(time.RFC3339Nano, at)
		e.Detail = json.RawMessage(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

const machineCols = "mac, image_ref, boot_mode, target_disk_serial, labels, armed, flashed, inventoried, inventory, arch, firmware, flash, session, cloud_init, network_config, deployment, bmc, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanMachine(r scanner) (provision.Machine, error) {
	var m provision.Machine
	var addr, mode, labels, flash, session, deployment, bmc, updated string
	var inventory sql.NullString
	if err := r.Scan(&addr, &m.ImageRef, &mode, &m.TargetDiskSerial, &labels, &m.Armed, &m.Flashed, &m.Inventoried, &inventory, &m.Arch, &m.Firmware, &flash, &session,
		&m.CloudInit, &m.NetworkConfig, &deployment, &bmc, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return m, ErrNotFound
		}
		return m, err
	}
	m.MAC, m.BootMode = mac.Addr(addr), provision.Mode(mode)
	if err := json.Unmarshal([]byte(labels), &m.Labels); err != nil {
		return m, fmt.Errorf("machine %s: labels: %w", addr, err)
	}
	if inventory.Valid {
		m.Inventory = json.RawMessage(inventory.String)
	}
	if err := json.Unmarshal([]byte(flash), &m.Flash); err != nil {
		return m, fmt.Errorf("machine %s: flash: %w", addr, err)
	}
	if err := json.Unmarshal([]byte(session), &m.Session); err != nil {
		return m, fmt.Errorf("machine %s: session: %w", addr, err)
	}
	if err := json.Unmarshal([]byte(deployment), &m.Deployment); err != nil {
		return m, fmt.Errorf("machine %s: deployment: %w", addr, err)
	}
	var b bmcRow
	if err := json.Unmarshal([]byte(bmc), &b); err != nil {
		return m, fmt.Errorf("machine %s: bmc: %w", addr, err)
	}
	m.BMC = provision.BMC{Protocol: b.Protocol, Address: b.Address, User: b.User, Sealed: b.Sealed, Power: b.Power, PowerAt: b.PowerAt}
	m.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
	return m, nil
}

// Machine returns one machine.
func (s *Store) Machine(ctx context.Context, addr mac.Addr) (provision.Machine, error) {
	return scanMachine(s.db.QueryRowContext(ctx, "SELECT "+machineCols+" FROM machines WHERE mac = ?", string(addr)))
}

// Machines returns every machine, by MAC.
func (s *Store) Machines(ctx context.Context) ([]provision.Machine, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+machineCols+" FROM machines ORDER BY mac")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []provision.Machine{}
	for rows.Next() {
		m, err := scanMachine(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Change is what an Update callback decides: the machine's new state (nil
// to leave it), and an event to log with it (Kind "" for none).
type Change struct {
	Machine *provision.Machine
	Kind    EventKind
	Actor   string
	Detail  any
}

// Update runs fn on the machine (ok false if it does not exist) and stores
// its change and event in one transaction. fn must not use the Store: it
// runs inside the writer's transaction.
//
// Updates are group-committed: the one writer goroutine takes every update
// waiting when it is free and applies them in order in one transaction,
// each inside a savepoint of its own, so one update's failure undoes only
// that update, and a rack of machines booting at once costs one commit per
// batch instead of one each (measured by the fleet bench).
func (s *Store) Update(ctx context.Context, addr mac.Addr, fn func(m provision.Machine, ok bool) (Change, error)) (provision.Machine, error) {
	u := &update{ctx: ctx, addr: addr, fn: fn, done: make(chan struct{})}
	select {
	case s.updates <- u:
	case <-s.quit:
		return provision.Machine{}, ErrClosed
	case <-ctx.Done():
		return provision.Machine{}, ctx.Err()
	}
	<-u.done
	return u.m, u.err
}

// ErrClosed is what an update gets once the Store is closed.
var ErrClosed = errors.New("the state database is closed")

// update is one Update waiting for the writer.
type update struct {
	ctx  context.Context
	addr mac.Addr
	fn   func(m provision.Machine, ok bool) (Change, error)
	m    provision.Machine
	err  error
	done chan struct{}
}

// maxBatch bounds how many updates share one transaction.
const maxBatch = 256

// writer applies updates until quit is closed.
func (s *Store) writer() {
	defer close(s.stopped)
	for {
		var batch []*update
		select {
		case u := <-s.updates:
			batch = append(batch, u)
		case <-s.quit:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case u := <-s.updates:
				batch = append(batch, u)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// commit applies a batch in one transaction, each update in a savepoint.
func (s *Store) commit(batch []*update) {
	defer func() {
		for _, u := range batch {
			close(u.done)
		}
	}()
	ctx := context.Background()
	if s.Shared() {
		// Replicas' batches take their machines' locks in one order (by
		// MAC; one machine's updates keep theirs), so they never deadlock.
		batch = slices.Clone(batch)
		slices.SortStableFunc(batch, func(a, b *update) int { return strings.Compare(string(a.addr), string(b.addr)) })
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		for _, u := range batch {
			u.err = err
		}
		return
	}
	defer tx.Rollback()
	applied := 0
	for _, u := range batch {
		if u.err = u.ctx.Err(); u.err != nil {
			continue
		}
		if _, u.err = tx.ExecContext(ctx, "SAVEPOINT bty_update"); u.err != nil {
			continue
		}
		u.m, u.err = s.apply(ctx, tx, u.addr, u.fn)
		if u.err != nil {
			tx.ExecContext(ctx, "ROLLBACK TO bty_update")
		} else {
			applied++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE bty_update"); err != nil && u.err == nil {
			u.err = err
		}
	}
	if applied == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		for _, u := range batch {
			if u.err == nil {
				u.err = err
			}
		}
	}
}

// apply is one update inside the writer's transaction.
func (s *Store) apply(ctx context.Context, tx *tx, addr mac.Addr, fn func(m provision.Machine, ok bool) (Change, error)) (provision.Machine, error) {
	// Another replica may update the same machine: it waits for this one.
	if err := s.db.d.lockMachine(ctx, tx, addr); err != nil {
		return provision.Machine{}, err
	}
	m, err := scanMachine(tx.QueryRowContext(ctx, "SELECT "+machineCols+" FROM machines WHERE mac = ?", string(addr)))
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return m, err
	}
	ch, err := fn(m, exists)
	if err != nil {
		return m, err
	}
	if ch.Machine != nil {
		m = *ch.Machine
		m.MAC = addr
		m.UpdatedAt = s.Now()
		labels, err := json.Marshal(m.Labels)
		if err != nil {
			return m, err
		}
		flash, err := json.Marshal(m.Flash)
		if err != nil {
			return m, err
		}
		session, err := json.Marshal(m.Session)
		if err != nil {
			return m, err
		}
		deployment, err := json.Marshal(m.Deployment)
		if err != nil {
			return m, err
		}
		bmc, err := json.Marshal(bmcRow{m.BMC.Protocol, m.BMC.Address, m.BMC.User, m.BMC.Sealed, m.BMC.Power, m.BMC.PowerAt})
		if err != nil {
			return m, err
		}
		var inventory any
		if m.Inventory != nil {
			inventory = string(m.Inventory)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO machines (`+machineCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (mac) DO UPDATE SET image_ref = excluded.image_ref, boot_mode = excluded.boot_mode,
			target_disk_serial = excluded.target_disk_serial, labels = excluded.labels, armed = excluded.armed,
			flashed = excluded.flashed, inventoried = excluded.inventoried, inventory = excluded.inventory,
			arch = excluded.arch, firmware = excluded.firmware, flash = excluded.flash, session = excluded.session,
			cloud_init = excluded.cloud_init, network_config = excluded.network_config, deployment = excluded.deployment,
			bmc = excluded.bmc, updated_at = excluded.updated_at`,
			string(addr), m.ImageRef, string(m.BootMode), m.TargetDiskSerial, string(labels), m.Armed, m.Flashed, m.Inventoried, inventory,
			m.Arch, m.Firmware, string(flash), string(session), m.CloudInit, m.NetworkConfig, string(deployment), string(bmc), m.UpdatedAt.Format(time.RFC3339Nano)); err != nil {
			return m, err
		}
	}
	if ch.Kind != "" {
		if err := s.logTo(ctx, tx, ch.Kind, addr, ch.Actor, ch.Detail); err != nil {
			return m, err
		}
	}
	return m, nil
}

// DeleteMachine removes a machine and logs it.
func (s *Store) DeleteMachine(ctx context.Context, addr mac.Addr, actor string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "DELETE FROM machines WHERE mac = ?", string(addr))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if err := s.logTo(ctx, tx, EventMachineDeleted, addr, actor, struct{}{}); err != nil {
		return err
	}
	return tx.Commit()
}

// Image is a known image: uploaded to bty-web or registered from elsewhere.
type Image struct {
	Ref       string         `json:"ref"`
	Name      string         `json:"name"`
	Src       string         `json:"src"` // file://NAME for uploads
	Format    catalog.Format `json:"format"`
	SizeBytes int64          `json:"size_bytes"`
	SHA256    string         `json:"sha256"`
	Arch      string         `json:"arch,omitempty"`
	Uploaded  bool           `json:"-"`
}

const imageCols = "ref, name, src, format, size_bytes, sha256, arch, uploaded"

func scanImage(r scanner) (Image, error) {
	var i Image
	var format string
	if err := r.Scan(&i.Ref, &i.Name, &i.Src, &format, &i.SizeBytes, &i.SHA256, &i.Arch, &i.Uploaded); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return i, ErrNotFound
		}
		return i, err
	}
	i.Format = catalog.Format(format)
	return i, nil
}

// PutImage records an image. An upload replaces an earlier upload of the same
// name; a registration fails with ErrExists if the name or ref is taken.
func (s *Store) PutImage(ctx context.Context, img Image, actor string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	upsert := ""
	if img.Uploaded {
		upsert = ` ON CONFLICT (ref) DO UPDATE SET src = excluded.src, format = excluded.format, size_bytes = excluded.size_bytes,
			sha256 = excluded.sha256, arch = excluded.arch, uploaded = excluded.uploaded, created_at = excluded.created_at`
		// An upload replaces an earlier upload only, never a remote entry
		// registered while it was being sent.
		var uploaded bool
		err := tx.QueryRowContext(ctx, "SELECT uploaded FROM images WHERE name = ?", img.Name).Scan(&uploaded)
		if err == nil && !uploaded {
			return fmt.Errorf("image %q is registered as a remote image: %w", img.Name, ErrExists)
		}
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO images ("+imageCols+", created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"+upsert,
		img.Ref, img.Name, img.Src, string(img.Format), img.SizeBytes, img.SHA256, img.Arch, img.Uploaded, s.Now().Format(time.RFC3339Nano))
	if err != nil {
		if s.db.d.isUnique(err) {
			return fmt.Errorf("image %q: %w", img.Name, ErrExists)
		}
		return err
	}
	if err := s.logTo(ctx, tx, EventImageAdded, "", actor, img); err != nil {
		return err
	}
	return tx.Commit()
}

// Images returns every image by name.
func (s *Store) Images(ctx context.Context) ([]Image, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+imageCols+" FROM images ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Image{}
	for rows.Next() {
		i, err := scanImage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// ImageByRef returns one image.
func (s *Store) ImageByRef(ctx context.Context, ref string) (Image, error) {
	return scanImage(s.db.QueryRowContext(ctx, "SELECT "+imageCols+" FROM images WHERE ref = ?", ref))
}

// ImageByName returns one image.
func (s *Store) ImageByName(ctx context.Context, name string) (Image, error) {
	return scanImage(s.db.QueryRowContext(ctx, "SELECT "+imageCols+" FROM images WHERE name = ?", name))
}

// DeleteImage removes an image record by name and logs it.
func (s *Store) DeleteImage(ctx context.Context, name, actor string) (Image, error) {
	img, err := s.ImageByName(ctx, name)
	if err != nil {
		return img, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return img, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM images WHERE name = ?", name); err != nil {
		return img, err
	}
	if err := s.logTo(ctx, tx, EventImageDeleted, "", actor, map[string]string{"name": name, "ref": img.Ref}); err != nil {
		return img, err
	}
	return img, tx.Commit()
}
