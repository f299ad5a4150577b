package postgres_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/storetest"
)

// newSchema creates an empty schema for one test.
func newSchema(t *testing.T) (url, schema string) {
	url, schema, _ = testenv.PostgresSchema(t)
	return url, schema
}

// admin runs sql on its own connection, outside any store.
func admin(t *testing.T, url, sql string) { testenv.PostgresExec(t, url, sql) }

// open opens a store in schema, closed when t ends. The pool is small
// because the suite's parallel subtests share one server's connections.
func open(t *testing.T, url, schema string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		url, schema := newSchema(t)
		return open(t, url, schema)
	})
}

// migrationCount is the number of embedded migrations, read from the
// directory they are embedded from.
func migrationCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// appliedCount counts the rows of schema's migration table.
func appliedCount(t *testing.T, db *postgres.DB, schema string) int {
	t.Helper()
	var n int
	table := pgx.Identifier{schema, "ossa_schema_migrations"}.Sanitize()
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOpenConcurrently checks that replicas starting at once on one empty
// schema all open it and apply each migration once.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	const replicas = 5
	dbs := make([]*postgres.DB, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			dbs[i], errs[i] = postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema, MaxConns: 2})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(dbs[i].Close)
	}
	if got, want := appliedCount(t, dbs[0], schema), migrationCount(t); got != want {
		t.Fatalf("%d migration rows, want %d", got, want)
	}
	for i, db := range dbs {
		if err := db.Ready(context.Background()); err != nil {
			t.Fatalf("Ready %d: %v", i, err)
		}
	}
}

// TestReadyMissingMigration checks that Ready fails while the newest
// migration is unrecorded and that the next Open applies it again.
func TestReadyMissingMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	a := storetest.NewAgent("survivor")
	if err := db.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{schema, "ossa_schema_migrations"}.Sanitize()
	admin(t, url, `DELETE FROM `+table+` WHERE version = (SELECT max(version) FROM `+table+`)`)
	if err := db.Ready(ctx); err == nil {
		t.Fatal("Ready passed with the newest migration unrecorded")
	}
	again := open(t, url, schema)
	for _, d := range []*postgres.DB{again, db} {
		if err := d.Ready(ctx); err != nil {
			t.Fatalf("Ready after re-Open: %v", err)
		}
	}
	if got, want := appliedCount(t, again, schema), migrationCount(t); got != want {
		t.Fatalf("%d migration rows, want %d", got, want)
	}
	if _, err := again.FindAgent(ctx, a.Namespace, a.ID); err != nil {
		t.Fatalf("agent lost by re-applying a migration: %v", err)
	}
}

// TestOpenFails checks that bad settings and an unreachable server are
// reported by Open, not by the first query.
func TestOpenFails(t *testing.T) {
	t.Parallel()
	for _, cfg := range []postgres.Config{
		{},
		{URL: "postgres://localhost/x", MaxConns: -1},
		{URL: "not a url"},
		{URL: "postgres://postgres@127.0.0.1:1/test?sslmode=disable"},
	} {
		if db, err := postgres.Open(context.Background(), cfg); err == nil {
			db.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

// TestHexName checks that a name of 32 hex digits, a form uuid.Parse
// accepts but Agent.Validate allows as a name, is looked up as a name.
func TestHexName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	name := "0190b1b200007000800000000000abcd"
	a := storetest.NewAgent(name)
	a.Normalize()
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{name, a.ID} {
		got, err := db.FindAgent(ctx, a.Namespace, ref)
		if err != nil || got.ID != a.ID {
			t.Fatalf("FindAgent(%s) = %v, %v", ref, got, err)
		}
	}
	if _, err := db.UpdateAgent(ctx, a.Namespace, name, func(*platform.Agent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAgent(ctx, a.Namespace, name); err != nil {
		t.Fatal(err)
	}
}

// TestBadCursor checks that a cursor that is not an agent ID is the
// caller's mistake, not a server error.
func TestBadCursor(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	_, err := db.ListAgents(context.Background(), platform.AgentFilter{Namespace: "default", After: "nope", Limit: 10})
	if got := platform.ErrorCode(err); got != platform.EINVALID {
		t.Fatalf("error code = %q (%v), want %q", got, err, platform.EINVALID)
	}
}

// TestUpgrade checks that a database migrated before agents kept manifests
// (version 1) reaches the newest version with its agents intact, and that
// they read back with no manifest.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	db.Close()
	in := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	// Back to version 1 by hand, the inverse of 0002 to 0004 and 0007.
	admin(t, url, `DROP TABLE `+in("workflow_revisions")+`, `+in("run_steps")+`, `+in("runs")+`, `+in("workflows")+`;
		ALTER TABLE `+in("agents")+` DROP COLUMN api_version, DROP COLUMN manifest_format, DROP COLUMN manifest_body,
			DROP COLUMN protocol, DROP COLUMN health_status, DROP COLUMN health_reason, DROP COLUMN health_checked_at;
		DELETE FROM `+in("ossa_schema_migrations")+` WHERE version > 1;
		INSERT INTO `+in("agents")+` (id, namespace, name, type, status, created_at, updated_at)
			VALUES ('0190b1b2-0000-7000-8000-000000000001', 'default', 'old', 'worker', 'active', now(), now())`)
	db = open(t, url, schema)
	if err := db.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := db.FindAgent(ctx, "default", "old")
	if err != nil {
		t.Fatal(err)
	}
	if a.APIVersion != "" || a.Manifest != nil {
		t.Fatalf("upgraded agent has api version %q, manifest %+v", a.APIVersion, a.Manifest)
	}
	if a.Protocol != platform.ProtocolHTTP || a.Health.Status != platform.HealthUnknown || a.Health.CheckedAt != nil {
		t.Fatalf("upgraded agent has protocol %q, health %+v", a.Protocol, a.Health)
	}
	if _, err := db.ListRuns(ctx, platform.RunFilter{Namespace: "default", Limit: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestReapplyAll checks that every migration is safe to run twice: with
// every version row lost, Open applies them all again and loses nothing.
func TestReapplyAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	a := storetest.NewAgent("survivor")
	a.APIVersion = "ossa/v0.3.0"
	a.Manifest = &platform.ManifestSource{Format: "yaml", Body: []byte("kind: Agent\n")}
	if err := db.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	w := storetest.NewWorkflow("survivor")
	if err := db.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	admin(t, url, `DELETE FROM `+pgx.Identifier{schema, "ossa_schema_migrations"}.Sanitize())
	again := open(t, url, schema)
	if err := again.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := appliedCount(t, again, schema), migrationCount(t); got != want {
		t.Fatalf("%d migration rows, want %d", got, want)
	}
	got, err := again.FindAgent(ctx, a.Namespace, a.ID)
	if err != nil {
		t.Fatalf("agent lost by re-applying migrations: %v", err)
	}
	if got.APIVersion != a.APIVersion || got.Manifest == nil || string(got.Manifest.Body) != string(a.Manifest.Body) {
		t.Fatalf("agent after re-applying migrations: %+v, manifest %+v", got, got.Manifest)
	}
	if _, err := again.FindWorkflow(ctx, w.Namespace, w.ID); err != nil {
		t.Fatalf("workflow lost by re-applying migrations: %v", err)
	}
}

// TestWorkflowHexName checks that a workflow name of 32 hex digits is
// looked up as a name, as for agents.
func TestWorkflowHexName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	w := storetest.NewWorkflow("0190b1b200007000800000000000abcd")
	if err := db.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{w.Name, w.ID} {
		got, err := db.FindWorkflow(ctx, w.Namespace, ref)
		if err != nil || got.ID != w.ID {
			t.Fatalf("FindWorkflow(%s) = %v, %v", ref, got, err)
		}
	}
	if err := db.DeleteWorkflow(ctx, w.Namespace, w.Name); err != nil {
		t.Fatal(err)
	}
}
