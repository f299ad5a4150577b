// Package sqlite is the embedded store: the platform's state in one SQLite
// file under the data directory, through modernc.org/sqlite (pure Go, no
// cgo). It is the default when no PostgreSQL URL is configured.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/migrations"
	"github.com/ossa-platform/platform/internal/sqlstore"
	"github.com/ossa-platform/platform/queue"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// maxConns bounds the store's connection pool.
const maxConns = 8

// DSN is how the store opens the database file at path, for its own
// handle and River's: WAL lets readers run beside the writer; busy_timeout
// makes a writer wait for the lock instead of failing; _txlock=immediate
// takes the write lock at BEGIN, so read-modify-write transactions cannot
// deadlock.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// FileName is the database file inside the data directory.
const FileName = "ossa.db"

// DB is the SQLite store.
type DB struct {
	db *sql.DB
	// river is River's own handle on the same file, with one connection:
	// River runs many operations at once, which SQLite would answer with
	// SQLITE_BUSY, and one connection makes them take turns. Jobs that
	// belong to a change of the store are inserted through the store's own
	// transaction instead, so the two commit together.
	river *sql.DB
	path  string
	now   func() time.Time

	// queue enqueues runs, and executes them after StartQueue.
	queue *sqlstore.RunQueue[*sql.Tx]

	onCommit atomic.Pointer[func()]
}

var (
	_ platform.AgentStore    = (*DB)(nil)
	_ platform.WorkflowStore = (*DB)(nil)
	_ platform.RunStore      = (*DB)(nil)
	_ platform.RunLedger     = (*DB)(nil)
	_ platform.Database      = (*DB)(nil)
)

// Open opens (creating when absent) the database in dir, applies every
// migration not yet applied, the store's and River's, and makes a queue
// that enqueues runs; StartQueue makes it execute them too.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	dsn := DSN(path)
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	riverdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	// SQLite has one writer at a time: more connections than a few only
	// queue in the busy handler, which sleeps instead of queueing fairly,
	// and a connection is costly to open (its pragmas), so the pool keeps
	// every one it has. Measured in docs/benchmarks.md: fan-out runs went
	// from 147 to about 490 steps/s. No code asks the pool for a second
	// connection while holding one, so a capped pool cannot deadlock.
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	riverdb.SetMaxOpenConns(1)
	db := &DB{db: sqldb, river: riverdb, path: path, now: time.Now}
	fail := func(err error) (*DB, error) {
		_ = riverdb.Close()
		_ = sqldb.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		return fail(fmt.Errorf("migrate %s: %w", path, err))
	}
	// River's migrations take no lock: a process opening the file at the
	// same time may apply one first, and then a second try finds it done.
	err = queue.Migrate(ctx, riversqlite.New(riverdb), nil)
	if err != nil {
		err = queue.Migrate(ctx, riversqlite.New(riverdb), nil)
	}
	if err != nil {
		return fail(fmt.Errorf("migrate %s: %w", path, err))
	}
	// River's SQLite driver has no notifications: its queues poll.
	driver := func() riverdriver.Driver[*sql.Tx] { return riversqlite.New(riverdb) }
	if db.queue, err = sqlstore.NewRunQueue(driver, true); err != nil {
		return fail(err)
	}
	return db, nil
}

// StartQueue starts executing runs with cfg.Executor: from then on, runs
// created or requeued go to a queue that works them, by polling. The queue
// works until Close; ctx bounds only starting it.
func (db *DB) StartQueue(ctx context.Context, cfg queue.Config) error {
	if err := db.queue.Start(ctx, cfg); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Close stops the run queue, waiting at most sqlstore.StopTimeout for the
// runs in progress to stop, and closes the database.
func (db *DB) Close() error {
	return errors.Join(db.queue.Close(), db.river.Close(), db.db.Close())
}

// SQL returns the store's handle, for tests and tools.
func (db *DB) SQL() *sql.DB { return db.db }

// Backend returns "sqlite".
func (db *DB) Backend() string { return "sqlite" }

// Ping checks that the database file answers.
func (db *DB) Ping(ctx context.Context) error { return db.db.PingContext(ctx) }

// Ready checks that the database answers and every embedded migration is
// applied.
func (db *DB) Ready(ctx context.Context) error {
	want, err := migrationFiles()
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, db.db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range want {
		if !applied[m.Version] {
			return fmt.Errorf("migration %s is not applied (newest embedded %d)", m.Name, migrations.Latest(want))
		}
	}
	return nil
}

// withTx runs fn in one write transaction, committed when fn returns nil
// and rolled back otherwise. State changes go through change, which adds
// the recorder; withTx alone is for the store's housekeeping (migrations,
// sequencing and pruning), which records nothing.
func (db *DB) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return translate(tx.Commit())
}

// change runs fn, one change of the store's state, in one write
// transaction with a recorder: what fn records on it (the change's events,
// the jobs of the runs it enqueues) is written in the same transaction
// just before it commits, and not at all when fn or a write fails. Every
// state change goes through here. Once a change that recorded events is
// committed, the commit hook hears of it.
func (db *DB) change(ctx context.Context, fn func(tx *sql.Tx, rec *sqlstore.Recorder) error) error {
	var rec sqlstore.Recorder
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx, &rec); err != nil {
			return err
		}
		return rec.Flush(ctx, sink{db: db, tx: tx})
	})
	if err != nil {
		return err
	}
	if fn := db.onCommit.Load(); fn != nil && len(rec.Events()) > 0 {
		(*fn)()
	}
	return nil
}

// Record runs fn as a change of its own: what fn records on rec is written
// in one transaction, or nothing is when fn or a write fails. It is the
// seam through which the conformance suite (storetest) proves that of the
// store's changes.
func (db *DB) Record(ctx context.Context, fn func(rec *sqlstore.Recorder) error) error {
	return db.change(ctx, func(_ *sql.Tx, rec *sqlstore.Recorder) error { return fn(rec) })
}

// OnCommit sets fn to be called after every committed change that recorded
// an event: the event hub's cue to sequence and deliver it. fn must not
// block.
func (db *DB) OnCommit(fn func()) { db.onCommit.Store(&fn) }

// migrationFiles lists the embedded migrations in version order.
func migrationFiles() ([]migrations.Migration, error) {
	return migrations.Load(migrationsFS, "migrations")
}

// migrate applies the pending migrations in one immediate transaction, which
// also serializes several processes opening the same file at once. Pending
// is every embedded version the file has not applied, not only those above
// its newest: a number reserved for a change that merged after a higher one
// (0012 after 0013) is applied too.
func (db *DB) migrate(ctx context.Context) error {
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ossa_schema_migrations (
			version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
			return err
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range files {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ossa_schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, db.now().UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

// appliedVersions is the set of migrations the file has applied.
func appliedVersions(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM ossa_schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// translate turns driver errors into platform errors where callers act on
// them; others pass through as internal errors.
func translate(err error) error {
	var se *sqlite.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return platform.Errorf(platform.ECONFLICT, "already exists")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY:
		return &platform.Error{Code: platform.EUNAVAILABLE, Message: "the database is busy; try again"}
	}
	return err
}
