// Package postgres is the production store: the platform's state in
// PostgreSQL through pgx and a pgxpool connection pool. Several gateway
// replicas may share one database; migrations are embedded and applied at
// Open under an advisory lock, so replicas starting together are safe.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/migrations"
	"github.com/ossa-platform/platform/internal/sqlstore"
	"github.com/ossa-platform/platform/queue"
)

// Config says how to reach the database. Zero values mean the defaults.
type Config struct {
	// URL is the connection string, postgres://user:pass@host:port/db?....
	// It is required.
	URL string
	// MaxConns is the most connections the pool opens. Default 20.
	MaxConns int32
	// IdleTimeout closes a connection idle for this long. Default 30s.
	IdleTimeout time.Duration
	// ConnectTimeout bounds each attempt to open a connection. Default 2s.
	ConnectTimeout time.Duration
	// Schema is the schema the store's tables live in, for tests and
	// multi-tenant setups; default the server's search_path. The schema
	// must exist: creating one needs a privilege the store should not need.
	Schema string
}

// Defaults of Config.
const (
	DefaultMaxConns       = 20
	DefaultIdleTimeout    = 30 * time.Second
	DefaultConnectTimeout = 2 * time.Second
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	return c
}

// validate rejects settings pgxpool would misread or silently ignore.
func (c Config) validate() error {
	switch {
	case c.URL == "":
		return errors.New("postgres: the database URL is required")
	case c.MaxConns < 0:
		return fmt.Errorf("postgres: MaxConns %d must not be negative", c.MaxConns)
	case c.IdleTimeout < 0:
		return fmt.Errorf("postgres: IdleTimeout %v must not be negative", c.IdleTimeout)
	case c.ConnectTimeout < 0:
		return fmt.Errorf("postgres: ConnectTimeout %v must not be negative", c.ConnectTimeout)
	}
	return nil
}

// DB is the PostgreSQL store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time

	// queue enqueues runs, and executes them after StartQueue. River
	// shares the pool, so it finds its tables on the store's search_path
	// (Config.Schema) and notifies on channels named after that schema.
	queue *sqlstore.RunQueue[pgx.Tx]

	onCommit atomic.Pointer[func()]
}

var (
	_ platform.AgentStore    = (*DB)(nil)
	_ platform.WorkflowStore = (*DB)(nil)
	_ platform.RunStore      = (*DB)(nil)
	_ platform.RunLedger     = (*DB)(nil)
	_ platform.Database      = (*DB)(nil)
)

// Open connects to the database that cfg names, checks that it answers,
// applies every migration not yet applied, the store's and River's, and
// makes a queue that enqueues runs; StartQueue makes it execute them too.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pc.MaxConnIdleTime = cfg.IdleTimeout
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	if cfg.Schema != "" {
		// A startup parameter rather than SET after connecting, so that every
		// connection of the pool, including ones opened later, uses it.
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, now: time.Now}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	if err := db.migrateRiver(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	driver := func() riverdriver.Driver[pgx.Tx] { return riverpgxv5.New(pool) }
	if db.queue, err = sqlstore.NewRunQueue(driver, false); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// StartQueue starts executing runs with cfg.Executor: from then on, runs
// created or requeued go to a queue that works them. The queue works until
// Close; ctx bounds only starting it.
func (db *DB) StartQueue(ctx context.Context, cfg queue.Config) error {
	if err := db.queue.Start(ctx, cfg); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Close stops the run queue, waiting at most sqlstore.StopTimeout for the
// runs in progress to stop, then closes every connection of the pool,
// waiting for those in use.
func (db *DB) Close() {
	// Nothing is left to do about a queue that would not stop: its runs'
	// leases expire and other replicas take them up.
	_ = db.queue.Close()
	db.pool.Close()
}

// Pool returns the connection pool, for tests and tools.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Backend returns "postgres".
func (db *DB) Backend() string { return "postgres" }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Ready checks that the database answers and that its schema is the one
// this binary embeds: the highest applied migration is the highest known.
func (db *DB) Ready(ctx context.Context) error {
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	var have int
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM ossa_schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if want := migrations.Latest(files); have != want {
		return fmt.Errorf("schema version %d, want %d", have, want)
	}
	return nil
}

// withTx runs fn in one transaction, committed when fn returns nil and
// rolled back otherwise; fn's error is returned unchanged. State changes
// go through change, which adds the recorder; withTx alone is for the
// store's housekeeping (migrations, sequencing), which records nothing.
func (db *DB) withTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// Rollback after Commit is a no-op, and a rollback error adds nothing
	// to the error that caused it.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// change runs fn, one change of the store's state, in one transaction with
// a recorder: what fn records on it (the change's events, the jobs of the
// runs it enqueues) is written in the same transaction just before it
// commits, and not at all when fn or a write fails, so a change and all it
// recorded commit or vanish together. Every state change goes through here
// or, for the writes of a leased run made in one statement, leaseChange.
// Once a change that recorded events is committed, the commit hook hears
// of it.
func (db *DB) change(ctx context.Context, fn func(tx pgx.Tx, rec *sqlstore.Recorder) error) error {
	var rec sqlstore.Recorder
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		if err := fn(tx, &rec); err != nil {
			return err
		}
		return rec.Flush(ctx, sink{db: db, tx: tx})
	})
	if err != nil {
		return err
	}
	db.committed(&rec)
	return nil
}

// Record runs fn as a change of its own: what fn records on rec is written
// in one transaction, or nothing is when fn or a write fails. It is the
// seam through which the conformance suite (storetest) proves that of the
// store's changes.
func (db *DB) Record(ctx context.Context, fn func(rec *sqlstore.Recorder) error) error {
	return db.change(ctx, func(_ pgx.Tx, rec *sqlstore.Recorder) error { return fn(rec) })
}

// OnCommit sets fn to be called after every committed change that recorded
// an event: the event hub's cue to sequence and deliver it. fn must not
// block.
func (db *DB) OnCommit(fn func()) { db.onCommit.Store(&fn) }

// committed calls the commit hook after a change that recorded events.
func (db *DB) committed(rec *sqlstore.Recorder) {
	if fn := db.onCommit.Load(); fn != nil && len(rec.Events()) > 0 {
		(*fn)()
	}
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
