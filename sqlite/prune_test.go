package sqlite_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/storetest"
)

// TestPruneDeletesSteps checks that a pruned run's steps go with it: the
// foreign key of run_steps cascades only where SQLite enforces foreign
// keys, which the store turns on for every connection.
func TestPruneDeletesSteps(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	keep := storetest.NewRun("keep")
	gone := storetest.NewRun("gone")
	for _, r := range []*platform.Run{gone, keep} {
		if err := db.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AcquireRun(ctx, r.ID, "a", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"one", "two"} {
			if err := db.SaveStep(ctx, r.ID, "a", &platform.StepRun{ID: id, Status: platform.StepRunning, Attempts: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.FinishRun(ctx, gone.ID, "a", platform.RunFailed, nil, "done"); err != nil {
		t.Fatal(err)
	}
	// Every connection of the pool enforces foreign keys.
	var conns []*sql.Conn
	for range 4 {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on); err != nil || on != 1 {
			t.Fatalf("PRAGMA foreign_keys = %d, %v", on, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if n, err := db.PruneRuns(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneRuns = %d, %v", n, err)
	}
	count := func(id string) int {
		var n int
		if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM run_steps WHERE run_id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(gone.ID); n != 0 {
		t.Fatalf("%d steps of the pruned run are left", n)
	}
	if n := count(keep.ID); n != 2 {
		t.Fatalf("the running run has %d steps, want 2", n)
	}
}
