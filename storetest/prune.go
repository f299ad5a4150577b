package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runPrune checks RunLedger.PruneRuns: only finished runs that finished
// before the cutoff go, oldest first and at most limit of them, with their
// steps; queued and running runs never go.
func runPrune(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace

	t.Run("FinishedAndOld", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		hour := time.Now().Add(time.Hour)
		// finish runs r to status with a step, one after another, each
		// finishing strictly later than the one before.
		var last time.Time
		finish := func(name string, status platform.RunStatus) *platform.Run {
			t.Helper()
			r := createRun(t, s, NewRun(name))
			if _, err := s.AcquireRun(ctx, r.ID, "a", hour); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if err := s.SaveStep(ctx, r.ID, "a", &platform.StepRun{ID: "only", Status: platform.StepFailed, Attempts: 1,
				StartedAt: &now, FinishedAt: &now}); err != nil {
				t.Fatal(err)
			}
			for !time.Now().After(last.Add(time.Millisecond)) {
				time.Sleep(time.Millisecond) // the clock, not another goroutine, is awaited
			}
			var out json.RawMessage
			if status == platform.RunSucceeded {
				out = json.RawMessage(`{}`)
			}
			if err := s.FinishRun(ctx, r.ID, "a", status, out, "done"); err != nil {
				t.Fatal(err)
			}
			got := findRun(t, s, r.ID)
			last = *got.FinishedAt
			return got
		}
		succeeded := finish("succeeded", platform.RunSucceeded)
		failed := finish("failed", platform.RunFailed)
		timedOut := finish("timed-out", platform.RunTimedOut)
		cancelled := createRun(t, s, NewRun("cancelled")) // cancelled while queued
		if _, err := s.CancelRun(ctx, ns, cancelled.ID); err != nil {
			t.Fatal(err)
		}
		queued := createRun(t, s, NewRun("queued"))
		running := createRun(t, s, NewRun("running"))
		if _, err := s.AcquireRun(ctx, running.ID, "a", hour); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveStep(ctx, running.ID, "a", &platform.StepRun{ID: "only", Status: platform.StepRunning, Attempts: 1}); err != nil {
			t.Fatal(err)
		}
		remaining := func() []string {
			t.Helper()
			page, err := s.ListRuns(ctx, platform.RunFilter{Namespace: ns, Limit: platform.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range page.Items {
				names = append(names, r.Workflow)
			}
			slices.Sort(names)
			return names
		}
		prune := func(before time.Time, limit int, want int64) {
			t.Helper()
			n, err := s.PruneRuns(ctx, before, limit)
			if err != nil || n != want {
				t.Fatalf("PruneRuns(%v, %d) = %d, %v; want %d", before, limit, n, err, want)
			}
		}

		// Nothing finished before the first run did.
		prune(succeeded.FinishedAt.Add(-time.Microsecond), 10, 0)
		prune(hour, 0, 0)
		// The cutoff is exclusive, and only what finished before it goes.
		prune(*failed.FinishedAt, 10, 1)
		if _, err := s.FindRun(ctx, ns, succeeded.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("pruned run still found: %v", err)
		}
		if got := findRun(t, s, failed.ID); len(got.Steps) != 1 {
			t.Fatalf("a run after the cutoff lost its steps: %+v", got)
		}
		// The oldest first, at most limit.
		prune(hour, 1, 1)
		if got, want := remaining(), []string{"cancelled", "queued", "running", "timed-out"}; !slices.Equal(got, want) {
			t.Fatalf("after pruning one: %v, want %v", got, want)
		}
		prune(hour, 10, 2)
		prune(hour, 10, 0)
		if got, want := remaining(), []string{"queued", "running"}; !slices.Equal(got, want) {
			t.Fatalf("after pruning all finished: %v, want %v", got, want)
		}
		for _, r := range []*platform.Run{failed, timedOut, cancelled} {
			if _, err := s.FindRun(ctx, ns, r.ID); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Fatalf("pruned run %s still found: %v", r.Workflow, err)
			}
		}
		// The unfinished runs are whole and still work.
		if got := findRun(t, s, running.ID); got.Status != platform.RunRunning || len(got.Steps) != 1 {
			t.Fatalf("running run after pruning: %+v", got)
		}
		if err := s.FinishRun(ctx, running.ID, "a", platform.RunFailed, nil, "late"); err != nil {
			t.Fatal(err)
		}
		if got := findRun(t, s, queued.ID); got.Status != platform.RunQueued {
			t.Fatalf("queued run after pruning: %+v", got)
		}
	})
}
