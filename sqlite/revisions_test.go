package sqlite_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/storetest"
)

// TestUpgradeToRevisions checks migration 0006 on a file from before
// revisions: each stored workflow becomes its revision 1, with its
// definition and manifest, and the runs of stored workflows ran revision
// 1 of the version their definition names.
func TestUpgradeToRevisions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	w := storetest.NewWorkflow("old")
	w.Version = "2.1.0"
	w.Definition = json.RawMessage(`{"kind":"Workflow","metadata":{"name":"old","version":"2.1.0"},"spec":{"steps":[]}}`)
	w.Manifest = &platform.ManifestSource{Format: "yaml", Body: []byte("kind: Workflow\n")}
	if err := db.CreateWorkflow(ctx, w); err != nil {
		t.Fatal(err)
	}
	stored := storetest.NewRun("old")
	stored.WorkflowID, stored.Definition = w.ID, w.Definition
	inline := storetest.NewRun("inline")
	for _, r := range []*platform.Run{stored, inline} {
		if err := db.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Back to version 5 by hand, the inverse of 0014 to 0006 (of those
	// that are not idempotent).
	for _, stmt := range []string{
		`ALTER TABLE run_steps DROP COLUMN choice`,
		`DROP TABLE secrets`,
		`ALTER TABLE agents DROP COLUMN auth`,
		`DROP TABLE audit_log`,
		`DROP INDEX events_namespace`,
		`ALTER TABLE events DROP COLUMN namespace`,
		`DROP TABLE workflow_revisions`,
		`DROP INDEX runs_finished_at`,
		`ALTER TABLE workflows DROP COLUMN revision`,
		`ALTER TABLE runs DROP COLUMN workflow_revision`,
		`ALTER TABLE runs DROP COLUMN workflow_version`,
		`DELETE FROM ossa_schema_migrations WHERE version > 5`,
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
	got, err := db.FindWorkflow(ctx, platform.DefaultNamespace, "old")
	if err != nil || got.Revision != 1 {
		t.Fatalf("upgraded workflow %+v, %v", got, err)
	}
	rev, err := db.FindWorkflowRevision(ctx, platform.DefaultNamespace, "old", 1)
	if err != nil || rev.Version != "2.1.0" || string(rev.Manifest.Body) != "kind: Workflow\n" || !rev.CreatedAt.Equal(w.UpdatedAt) {
		t.Fatalf("revision 1 after the upgrade: %+v, %v", rev, err)
	}
	r, err := db.FindRun(ctx, platform.DefaultNamespace, stored.ID)
	if err != nil || r.WorkflowRevision != 1 || r.WorkflowVersion != "2.1.0" {
		t.Fatalf("upgraded run of a stored workflow: %+v, %v", r, err)
	}
	r, err = db.FindRun(ctx, platform.DefaultNamespace, inline.ID)
	if err != nil || r.WorkflowRevision != 0 || r.WorkflowVersion != "" {
		t.Fatalf("upgraded inline run: %+v, %v", r, err)
	}
	next := storetest.NewWorkflow("old")
	if change, err := db.PutWorkflow(ctx, next, nil); err != nil || change != platform.WorkflowUpdated || next.Revision != 2 {
		t.Fatalf("put after the upgrade: %q, %v, %+v", change, err, next)
	}
}
