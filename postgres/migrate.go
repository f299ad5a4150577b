package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/ossa-platform/platform/internal/migrations"
	"github.com/ossa-platform/platform/queue"
)

// migrations holds the schema, one numbered file per change (0001_agents.sql,
// ...). A file is never edited once released; a change is a new file. Each
// file must be safe to run twice (IF NOT EXISTS and the like), so that a
// lost version row is repaired by the next Open.
//
//go:embed migrations/*.sql
var migrationsFS embed.FS

// migrateLockKey is the advisory lock that serializes migrations. It is one
// key for the whole database rather than one per schema: migrating takes
// milliseconds, so schemas (tenants, tests) opened together wait little.
const migrateLockKey int64 = 0x6f7373615f6d6967 // "ossa_mig"

// riverLockKey is the advisory lock that serializes River's migrations,
// which take no lock of their own.
const riverLockKey int64 = 0x6f7373615f726976 // "ossa_riv"

// migrationFiles lists the embedded migrations in version order.
func migrationFiles() ([]migrations.Migration, error) {
	return migrations.Load(migrationsFS, "migrations")
}

// migrate applies, in version order, every embedded migration that has no
// row in ossa_schema_migrations. It runs in one transaction that first takes
// an advisory lock, so replicas opening one database at once apply each
// migration once: the others wait, then find nothing left to do. A failure
// rolls everything back, leaving the schema as it was.
func (db *DB) migrate(ctx context.Context) error {
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	return db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS ossa_schema_migrations (
			version    int PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM ossa_schema_migrations`)
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		applied := make(map[int]bool, len(versions))
		for _, v := range versions {
			applied[v] = true
		}
		for _, m := range files {
			if applied[m.Version] {
				continue
			}
			// Without arguments pgx uses the simple protocol, which runs
			// every statement of the file.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ossa_schema_migrations (version) VALUES ($1)`, m.Version); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
}

// migrateRiver applies River's migrations to the store's schema (River uses
// the pool, so the search_path) while holding a session advisory lock:
// River takes none, and replicas starting together would race to create
// its tables. River migrates through connections of its own, so the lock
// is a session lock on one more connection rather than a transaction's.
func (db *DB) migrateRiver(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverLockKey); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, riverLockKey); err != nil {
			// Ending the session frees its locks; the pool drops a closed
			// connection rather than hand out one that holds the lock.
			_ = conn.Conn().Close(ctx)
		}
	}()
	return queue.Migrate(ctx, riverpgxv5.New(db.pool), nil)
}
