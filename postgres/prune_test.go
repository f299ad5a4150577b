package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/storetest"
)

// TestPruneDeletesSteps checks that a pruned run's steps go with it.
func TestPruneDeletesSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema := newSchema(t)
	db := open(t, url, schema)
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
	if n, err := db.PruneRuns(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneRuns = %d, %v", n, err)
	}
	count := func(id string) int {
		var n int
		if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM run_steps WHERE run_id = $1`, id).Scan(&n); err != nil {
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
