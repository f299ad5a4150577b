package sqlite_test

import (
	"context"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/sqlite"
	"github.com/ossa-platform/platform/storetest"
)

func open(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t, t.TempDir()) })
}

// TestReopen checks that state survives closing the file and that opening
// an already migrated file applies nothing twice.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.NewAgent("survivor")
	a.Normalize()
	if err := db.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, dir)
	if err := db.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindAgent(ctx, a.Namespace, a.ID); err != nil {
		t.Fatal(err)
	}
}

// TestUpgrade checks that a file migrated before agents kept manifests
// (version 1) reaches the newest version with its agents intact, and that
// they read back with no manifest.
func TestUpgrade(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, dir)
	// Back to version 1 by hand, the inverse of 0002 to 0008.
	for _, stmt := range []string{
		`DROP TABLE secrets`,
		`ALTER TABLE agents DROP COLUMN auth`,
		`DROP TABLE audit_log`,
		`DROP TABLE workflow_revisions`,
		`DROP TABLE event_sequence`,
		`DROP TABLE events`,
		`DROP TABLE run_steps`,
		`DROP TABLE runs`,
		`ALTER TABLE agents DROP COLUMN protocol`,
		`ALTER TABLE agents DROP COLUMN health_status`,
		`ALTER TABLE agents DROP COLUMN health_reason`,
		`ALTER TABLE agents DROP COLUMN health_checked_at`,
		`DROP TABLE workflows`,
		`ALTER TABLE agents DROP COLUMN api_version`,
		`ALTER TABLE agents DROP COLUMN manifest_format`,
		`ALTER TABLE agents DROP COLUMN manifest_body`,
		`DELETE FROM ossa_schema_migrations WHERE version > 1`,
		`INSERT INTO agents (id, namespace, name, type, status, created_at, updated_at)
			VALUES ('0190b1b2-0000-7000-8000-000000000001', 'default', 'old', 'worker', 'active', 0, 0)`,
	} {
		if _, err := db.SQL().ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	db = open(t, dir)
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
	if _, err := db.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: "default", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if last, err := db.LastEventID(ctx); err != nil || last != 0 {
		t.Fatalf("LastEventID = %d, %v", last, err)
	}
}
