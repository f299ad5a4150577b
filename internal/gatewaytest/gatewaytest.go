// Package gatewaytest starts real gateways for tests: an http.Server on a
// free loopback port over a real store, with the real engine executing runs
// through the store's queue, shut down when the test ends.
package gatewaytest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/events"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/queue"
	"github.com/ossa-platform/platform/sqlite"
)

// Store is what a gateway needs of a database.
type Store interface {
	platform.AgentStore
	platform.WorkflowStore
	platform.RunStore
	platform.RunLedger
	platform.EventStore
	platform.Database
	StartQueue(ctx context.Context, cfg queue.Config) error
	OnCommit(fn func())
}

// SQLite opens a fresh embedded store in a temporary directory.
func SQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	return SQLiteAt(t, t.TempDir())
}

// SQLiteAt opens the SQLite store in dir, closed when t ends; several
// may share one dir, as replicas share a database.
func SQLiteAt(t testing.TB, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Engine returns the engine a gateway of Start uses, for tests that tune
// it: short step timeouts, no health probes.
func Engine(db Store, cfg engine.Config) *engine.Engine {
	cfg.Agents, cfg.Workflows, cfg.Runs = db, db, db
	if cfg.Invoker == nil {
		cfg.Invoker = invoke.New()
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = -1
	}
	return engine.New(cfg)
}

// Start runs a gateway over db, quiet unless configure sets a logger. The
// gateway executes runs with an engine of default settings, unless
// configure sets Orchestrator to one made with Engine, and streams events
// with a hub of its own, which counts runs and steps on the gateway's
// registry (http.RunMetrics), unless configure sets Events.
func Start(t testing.TB, db Store, configure ...func(*ohttp.Server)) *ohttp.Server {
	t.Helper()
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Workflows: db, Runs: db, Database: db,
		Logger: slog.New(slog.DiscardHandler)}
	for _, c := range configure {
		c(srv)
	}
	eng, ok := srv.Orchestrator.(*engine.Engine)
	if !ok {
		eng = Engine(db, engine.Config{Logger: srv.Logger})
		srv.Orchestrator = eng
	}
	if err := db.StartQueue(context.Background(), queue.Config{Executor: eng, Workers: 20,
		ReapEvery: time.Second, Logger: srv.Logger}); err != nil {
		t.Fatal(err)
	}
	eng.Start()
	if srv.Events == nil {
		runMetrics := ohttp.NewRunMetrics()
		srv.Events = events.New(events.Config{Store: db, Logger: srv.Logger, PollInterval: 100 * time.Millisecond,
			Sequenced: runMetrics.Observe})
		srv.Registry().MustRegister(runMetrics)
		db.OnCommit(srv.Events.Notify)
		if err := srv.Events.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Events.Close()
		srv.Shutdown(context.Background())
		eng.Close()
	})
	return srv
}
