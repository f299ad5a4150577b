package sqlite_test

import (
	"context"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/storetest"
)

// TestUpgradeToEventNamespaces checks migration 0007 on a file from before
// events had namespaces: the events kept, sequenced or not, are of the
// default namespace, and new ones of their own.
func TestUpgradeToEventNamespaces(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	for _, name := range []string{"sequenced", "pending"} {
		a := storetest.NewAgent(name)
		a.Normalize()
		if err := db.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		if name == "sequenced" {
			if _, err := db.SequenceEvents(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Back to version 6 by hand, the inverse of 0008 and 0007.
	for _, stmt := range []string{
		`ALTER TABLE run_steps DROP COLUMN choice`,
		`DROP TABLE secrets`,
		`ALTER TABLE agents DROP COLUMN auth`,
		`DROP TABLE audit_log`,
		`DROP INDEX events_namespace`,
		`ALTER TABLE events DROP COLUMN namespace`,
		`DELETE FROM ossa_schema_migrations WHERE version > 6`,
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
	team := storetest.NewAgent("new")
	team.Namespace = "team-a"
	team.Normalize()
	if err := db.CreateAgent(ctx, team); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SequenceEvents(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListEvents(ctx, platform.EventQuery{Namespaces: []string{platform.DefaultNamespace}})
	if err != nil || len(got) != 2 || got[0].Agent != "sequenced" || got[1].Agent != "pending" {
		t.Fatalf("events of the default namespace after the upgrade: %+v, %v", got, err)
	}
	got, err = db.ListEvents(ctx, platform.EventQuery{Namespaces: []string{"team-a"}})
	if err != nil || len(got) != 1 || got[0].Agent != "new" || got[0].Namespace != "team-a" {
		t.Fatalf("events of team-a after the upgrade: %+v, %v", got, err)
	}
}
