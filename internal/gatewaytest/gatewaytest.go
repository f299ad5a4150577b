// Package gatewaytest starts real gateways for tests: an http.Server on a
// free loopback port over a real store, shut down when the test ends.
package gatewaytest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/sqlite"
)

// Store is what a gateway needs of a database.
type Store interface {
	platform.AgentStore
	platform.WorkflowStore
	platform.Database
}

// SQLite opens a fresh embedded store in a temporary directory.
func SQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Start runs a gateway over db, quiet unless configure sets a logger.
func Start(t testing.TB, db Store, configure ...func(*ohttp.Server)) *ohttp.Server {
	t.Helper()
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Workflows: db, Database: db, Logger: slog.New(slog.DiscardHandler)}
	for _, c := range configure {
		c(srv)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv
}
