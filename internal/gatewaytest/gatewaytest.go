// Package gatewaytest is the name package ossatest had before the binary
// and the tests shared one wiring; its users move to ossatest.
package gatewaytest

import (
	"testing"

	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/sqlite"
)

// Store is ossatest.Store.
type Store = ossatest.Store

// SQLite is ossatest.SQLite.
func SQLite(t testing.TB) *sqlite.DB { t.Helper(); return ossatest.SQLite(t) }

// SQLiteAt is ossatest.SQLiteAt.
func SQLiteAt(t testing.TB, dir string) *sqlite.DB { t.Helper(); return ossatest.SQLiteAt(t, dir) }

// Engine is ossatest.Engine.
func Engine(db Store, cfg engine.Config) *engine.Engine { return ossatest.Engine(db, cfg) }

// Start is ossatest.Start over db, with configure applied to the gateway
// (ossatest.WithGateway), returning the gateway.
func Start(t testing.TB, db Store, configure ...func(*ohttp.Server)) *ohttp.Server {
	t.Helper()
	return ossatest.Start(t, ossatest.WithStore(db), ossatest.WithGateway(configure...)).Gateway
}
