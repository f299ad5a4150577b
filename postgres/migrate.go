package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrations holds the schema, one numbered file per change (0001_agents.sql,
// ...). A file is never edited once released; a change is a new file. Each
// file must be safe to run twice (IF NOT EXISTS and the like), so that a
// lost version row is repaired by the next Open.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockKey is the advisory lock that serializes migrations. It is one
// key for the whole database rather than one per schema: migrating takes
// milliseconds, so schemas (tenants, tests) opened together wait little.
const migrateLockKey int64 = 0x6f7373615f6d6967 // "ossa_mig"

type migration struct {
	version int
	name    string
}

// migrationFiles lists the embedded migrations in version order.
func migrationFiles() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with its positive number", e.Name())
		}
		out = append(out, migration{v, e.Name()})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations embedded")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
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
			if applied[m.version] {
				continue
			}
			body, err := migrations.ReadFile("migrations/" + m.name)
			if err != nil {
				return err
			}
			// Without arguments pgx uses the simple protocol, which runs
			// every statement of the file.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ossa_schema_migrations (version) VALUES ($1)`, m.version); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
		return nil
	})
}
