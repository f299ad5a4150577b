package ossatest

import (
	"context"
	"testing"

	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/sqlite"
)

// SQLite opens a fresh embedded store in a temporary directory, closed
// when t ends: for tests of a part that needs a store and no platform,
// or to give one to Start (WithStore).
func SQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	return SQLiteAt(t, t.TempDir())
}

// SQLiteAt opens the embedded store in dir, closed when t ends; several
// may share one dir, as replicas share a database.
func SQLiteAt(t testing.TB, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Engine returns an engine over db, for tests that drive one without a
// platform: cfg's stores are db, its invoker by default a plain
// invoke.Client, and its health probes off unless cfg sets an interval.
func Engine(db Store, cfg engine.Config) *engine.Engine {
	cfg.Agents, cfg.Workflows, cfg.Runs, cfg.Audit = db, db, db, db
	if cfg.Invoker == nil {
		cfg.Invoker = invoke.New()
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = -1
	}
	return engine.New(cfg)
}
