package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/storetest"
)

// TestUpgradeToEventNamespaces checks migration 0008 on a database from
// before events had namespaces: the events kept, sequenced or not, are of
// the default namespace, and new ones of their own.
func TestUpgradeToEventNamespaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	for _, name := range []string{"sequenced", "pending"} {
		if err := db.CreateAgent(ctx, storetest.NewAgent(name)); err != nil {
			t.Fatal(err)
		}
		if name == "sequenced" {
			if _, err := db.SequenceEvents(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()
	in := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	// Back to version 7 by hand, the inverse of 0008.
	admin(t, url, `DROP INDEX `+in("events_namespace")+`; ALTER TABLE `+in("events")+` DROP COLUMN namespace;
		DELETE FROM `+in("ossa_schema_migrations")+` WHERE version > 7`)
	db = open(t, url, schema)
	if err := db.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	team := storetest.NewAgent("new")
	team.Namespace = "team-a"
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
