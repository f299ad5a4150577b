package sqlite_test

import (
	"context"
	"testing"

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
