package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bty-lab/bty/bty/mac"
)

// dialect is everything SQLite and PostgreSQL do differently for the
// store; the rest of the package is written once, for both.
type dialect interface {
	// name is the database's name, for messages.
	name() string
	// open opens the database at where.
	open(where string) (*sql.DB, error)
	// shared reports whether several bty-web replicas may use the database
	// at once.
	shared() bool
	// bind rewrites a query's ? placeholders for the database.
	bind(q string) string
	// types maps the schema's column types (schemaTypes) to the database's.
	types() map[string]string
	// version reads the schema version inside tx, first taking whatever
	// lock keeps replicas starting together from migrating at once.
	version(ctx context.Context, tx *tx) (int, error)
	// setVersion records the schema version inside tx.
	setVersion(ctx context.Context, tx *tx, v int) error
	// lockMachine makes other replicas' updates of addr wait for tx.
	lockMachine(ctx context.Context, tx *tx, addr mac.Addr) error
	// isUnique reports whether err is a unique or primary-key violation,
	// by the database's error code.
	isUnique(err error) bool
	// columns lists the store's tables' columns as the database reports
	// them, by table and then position.
	columns(ctx context.Context, db *db) ([]Column, error)
}

// dialectFor picks the database where names: a PostgreSQL server for a
// postgres:// or postgresql:// URL, else a SQLite file at that path.
func dialectFor(where string) dialect {
	if strings.HasPrefix(where, "postgres://") || strings.HasPrefix(where, "postgresql://") {
		return postgres{}
	}
	return sqliteDB{}
}

// schemaTypes are the column types the migrations are written in, beyond
// TEXT (which both databases spell alike): each dialect's types() maps
// them to its own.
var schemaTypes = []string{"{{bool}}", "{{int64}}", "{{bytes}}", "{{id}}"}

// Column is one column of the store's schema as its database reports it.
type Column struct {
	Table, Name, Type string
	NotNull           bool
}

// sqliteDB is SQLite (modernc.org/sqlite: pure Go, so bty-web stays a
// static binary). One bty-web owns the file: WAL lets reads run beside
// the one writer, and every transaction takes the write lock when it
// begins (BEGIN IMMEDIATE), so writers wait for each other instead of
// failing. The schema version is PRAGMA user_version.
type sqliteDB struct{}

func (sqliteDB) name() string { return "SQLite" }

// open creates the file readable by its owner only (SQLite gives its WAL
// and shared-memory files the same mode): it holds the session secret and
// every machine's settings. An existing file is narrowed the same way.
func (sqliteDB) open(where string) (*sql.DB, error) {
	f, err := os.OpenFile(where, os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = f.Chmod(0o600)
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("the state database cannot be written (%w); check its owner, mode and file system", err)
	}
	return sql.Open("sqlite", "file:"+where+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate")
}

func (sqliteDB) shared() bool         { return false }
func (sqliteDB) bind(q string) string { return q }

func (sqliteDB) types() map[string]string {
	return map[string]string{"{{bool}}": "INTEGER", "{{int64}}": "INTEGER", "{{bytes}}": "BLOB", "{{id}}": "INTEGER PRIMARY KEY AUTOINCREMENT"}
}

func (sqliteDB) version(ctx context.Context, tx *tx) (int, error) {
	var v int
	return v, tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
}

func (sqliteDB) setVersion(ctx context.Context, tx *tx, v int) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

// lockMachine has nothing to do: the one writer goroutine already
// serializes every update, and no other process shares the file.
func (sqliteDB) lockMachine(context.Context, *tx, mac.Addr) error { return nil }

func (sqliteDB) isUnique(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// columns counts a primary key as NOT NULL, as PostgreSQL reports it.
func (sqliteDB) columns(ctx context.Context, db *db) ([]Column, error) {
	return queryColumns(ctx, db, `SELECT m.name, p.name, p.type, p."notnull" OR p.pk > 0 FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`)
}

// postgres is a PostgreSQL server (pgx, also pure Go) that several
// bty-web replicas share: transactions keep the state whole, advisory
// locks order the replicas. The schema version is the table bty_schema.
type postgres struct{}

func (postgres) name() string                       { return "PostgreSQL" }
func (postgres) open(where string) (*sql.DB, error) { return sql.Open("pgx", where) }
func (postgres) shared() bool                       { return true }

// bind numbers the placeholders: $1, $2, ... bty's queries hold no ?
// inside string literals.
func (postgres) bind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (postgres) types() map[string]string {
	return map[string]string{"{{bool}}": "BOOLEAN", "{{int64}}": "BIGINT", "{{bytes}}": "BYTEA", "{{id}}": "BIGSERIAL PRIMARY KEY"}
}

// migrationLock is the advisory lock replicas starting together take
// turns on while they migrate.
const migrationLock = 7419

func (postgres) version(ctx context.Context, tx *tx) (int, error) {
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS bty_schema (version INTEGER NOT NULL)"); err != nil {
		return 0, fmt.Errorf("creating the schema version table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", migrationLock); err != nil {
		return 0, err
	}
	var v int
	err := tx.QueryRowContext(ctx, "SELECT version FROM bty_schema").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (postgres) setVersion(ctx context.Context, tx *tx, v int) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM bty_schema"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO bty_schema (version) VALUES (?)", v)
	return err
}

// lockMachine takes a lock on addr held until the commit: it also covers a
// machine not stored yet, which a row lock could not.
func (postgres) lockMachine(ctx context.Context, tx *tx, addr mac.Addr) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", string(addr))
	return err
}

func (postgres) isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505" // unique_violation
}

func (postgres) columns(ctx context.Context, db *db) ([]Column, error) {
	return queryColumns(ctx, db, `SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name != 'bty_schema' ORDER BY table_name, ordinal_position`)
}

func queryColumns(ctx context.Context, db *db, q string) ([]Column, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Table, &c.Name, &c.Type, &c.NotNull); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
