package state

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// db is the database and its dialect. Queries are written once, with ?
// placeholders and SQL both SQLite and PostgreSQL take (ON CONFLICT,
// RETURNING, SAVEPOINT); for PostgreSQL the placeholders become $1, $2, ...
//
// The queries a boot runs are prepared once and kept: SQLite compiles a
// statement on every call otherwise, which was a fifth of bty-web's CPU
// for a per-MAC script (a profile of a thousand machines' scripts).
type db struct {
	*sql.DB
	pg    bool
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxStmts bounds the prepared statements kept: bty has a few dozen
// queries; anything beyond is not worth keeping.
const maxStmts = 128

// bind rewrites a query's placeholders for the dialect. bty's queries hold
// no ? inside string literals.
func bind(pg bool, q string) string {
	if !pg || !strings.Contains(q, "?") {
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

// cacheable says whether q is worth keeping prepared: one statement, not
// a schema change, pragma, savepoint or transaction control (those run
// once, or are cheap to compile).
func cacheable(q string) bool {
	if strings.Contains(q, ";") {
		return false
	}
	head := strings.ToUpper(strings.TrimSpace(q))
	for _, p := range []string{"PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "CREATE", "ALTER", "DROP", "BEGIN", "COMMIT", "SELECT PG_"} {
		if strings.HasPrefix(head, p) {
			return false
		}
	}
	return true
}

// stmt returns q prepared, or nil when q is not kept prepared (the caller
// then runs it as it is, and reports its error).
func (d *db) stmt(ctx context.Context, q string) *sql.Stmt {
	if !cacheable(q) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.stmts[q]; ok {
		return st
	}
	if len(d.stmts) >= maxStmts {
		return nil
	}
	st, err := d.DB.PrepareContext(ctx, bind(d.pg, q))
	if err != nil {
		return nil
	}
	if d.stmts == nil {
		d.stmts = map[string]*sql.Stmt{}
	}
	d.stmts[q] = st
	return st
}

// Close closes the kept statements, then the database.
func (d *db) Close() error {
	d.mu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	d.stmts = nil
	d.mu.Unlock()
	return d.DB.Close()
}

func (d *db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := d.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, bind(d.pg, q), args...)
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, bind(d.pg, q), args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, bind(d.pg, q), args...)
}

func (d *db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, d: d, pg: d.pg}, nil
}

// tx is a transaction of a db, with its dialect; it runs the db's kept
// statements on its own connection.
type tx struct {
	*sql.Tx
	d  *db
	pg bool
}

// stmt is the db's kept statement for q, bound to this transaction, or nil.
func (t *tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.d.stmt(ctx, q); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	return nil
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, bind(t.pg, q), args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, bind(t.pg, q), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, bind(t.pg, q), args...)
}
