package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

func runLedger(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace
	hour := func() time.Time { return time.Now().Add(time.Hour) }
	past := func() time.Time { return time.Now().Add(-time.Second) }

	t.Run("Acquire", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		before := time.Now().Add(-time.Second)
		got, err := s.AcquireRun(ctx, r.ID, "a", hour())
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != platform.RunRunning || got.StartedAt == nil || got.StartedAt.Before(before) ||
			got.FinishedAt != nil || got.Steps == nil || len(got.Steps) != 0 || !sameJSON(got.Definition, r.Definition) {
			t.Fatalf("acquired run %+v", got)
		}
		assertSameRun(t, findRun(t, s, r.ID), got)

		// A live lease of another owner is a conflict and changes nothing.
		_, err = s.AcquireRun(ctx, r.ID, "b", hour())
		wantCode(t, err, platform.ECONFLICT)
		_, err = s.RenewRun(ctx, r.ID, "b", hour())
		wantCode(t, err, platform.ECONFLICT)

		// The same owner may take it again (a retried job of its own), and
		// the run keeps the time it first started.
		time.Sleep(2 * time.Millisecond)
		again, err := s.AcquireRun(ctx, r.ID, "a", hour())
		if err != nil {
			t.Fatal(err)
		}
		assertSameRun(t, again, got)

		// Unknown runs and unnamed owners.
		for _, id := range []string{"absent", "0190b1b2-0000-7000-8000-000000000000"} {
			_, err = s.AcquireRun(ctx, id, "a", hour())
			wantCode(t, err, platform.ENOTFOUND)
		}
		for _, owner := range []string{"", "requeue"} {
			_, err = s.AcquireRun(ctx, r.ID, owner, hour())
			wantCode(t, err, platform.EINVALID)
		}
	})

	t.Run("Takeover", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		first, err := s.AcquireRun(ctx, r.ID, "a", hour())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveStep(ctx, r.ID, "a", &platform.StepRun{ID: "fetch", Status: platform.StepRunning, Attempts: 1}); err != nil {
			t.Fatal(err)
		}
		_, err = s.AcquireRun(ctx, r.ID, "b", hour())
		wantCode(t, err, platform.ECONFLICT)
		// a's last renewal ran out: as if a died a second ago.
		if _, err := s.RenewRun(ctx, r.ID, "a", past()); err != nil {
			t.Fatal(err)
		}
		// Once a's lease expired, b takes the run with its checkpoints.
		got, err := s.AcquireRun(ctx, r.ID, "b", hour())
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != platform.RunRunning || !sameTime(got.StartedAt, first.StartedAt) ||
			!slices.Equal(stepIDs(got.Steps), []string{"fetch"}) {
			t.Fatalf("taken over: %+v, steps %v", got, stepIDs(got.Steps))
		}
		// a lost it: every write of a is refused, even before b's lease
		// would expire.
		_, err = s.RenewRun(ctx, r.ID, "a", hour())
		wantCode(t, err, platform.ECONFLICT)
		wantCode(t, s.SaveStep(ctx, r.ID, "a", &platform.StepRun{ID: "late", Status: platform.StepRunning}), platform.ECONFLICT)
		wantCode(t, s.FinishRun(ctx, r.ID, "a", platform.RunFailed, nil, "late"), platform.ECONFLICT)
		_, err = s.AcquireRun(ctx, r.ID, "a", hour())
		wantCode(t, err, platform.ECONFLICT)
		assertSameRun(t, findRun(t, s, r.ID), got)
	})

	t.Run("StepChoice", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r.ID, "a", hour()); err != nil {
			t.Fatal(err)
		}
		sim := float32(0.75)
		choice := &platform.StepChoice{Query: "extract line items from invoices", Score: 0.0325, Similarity: &sim,
			Matched: []string{"description", "capabilities"}, Rank: 1, Candidates: 3}
		for _, st := range []*platform.StepRun{
			{ID: "pick", Status: platform.StepRunning, Agent: "invoice-reader", Attempts: 1, Choice: choice},
			{ID: "plain", Status: platform.StepRunning, Agent: "scout", Attempts: 1},
		} {
			if err := s.SaveStep(ctx, r.ID, "a", st); err != nil {
				t.Fatal(err)
			}
		}
		got := findRun(t, s, r.ID)
		if c := got.Step("pick").Choice; c == nil || c.Query != choice.Query || c.Score != choice.Score || c.Similarity == nil ||
			*c.Similarity != sim || !slices.Equal(c.Matched, choice.Matched) || c.Rank != 1 || c.Candidates != 3 {
			t.Fatalf("the choice read back is %+v, want %+v", c, choice)
		}
		if c := got.Step("plain").Choice; c != nil {
			t.Fatalf("a step without a choice reads back %+v", c)
		}
	})

	t.Run("AcquireRace", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		const executors = 8
		errs := make([]error, executors)
		var wg sync.WaitGroup
		for i := range executors {
			wg.Go(func() {
				_, errs[i] = s.AcquireRun(ctx, r.ID, fmt.Sprintf("executor-%d", i), hour())
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch platform.ErrorCode(err) {
			case "":
				won++
			case platform.ECONFLICT:
			default:
				t.Errorf("AcquireRun: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d executors acquired the run, want 1", won)
		}
	})

	t.Run("WritesNeedLease", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		step := &platform.StepRun{ID: "fetch", Status: platform.StepRunning}
		// Nobody holds a queued run's lease.
		for _, owner := range []string{"a", "", "requeue"} {
			_, err := s.RenewRun(ctx, r.ID, owner, hour())
			wantCode(t, err, platform.ECONFLICT)
			wantCode(t, s.SaveStep(ctx, r.ID, owner, step), platform.ECONFLICT)
			wantCode(t, s.FinishRun(ctx, r.ID, owner, platform.RunSucceeded, nil, ""), platform.ECONFLICT)
		}
		assertSameRun(t, findRun(t, s, r.ID), r)
		for _, id := range []string{"absent", "0190b1b2-0000-7000-8000-000000000000"} {
			_, err := s.RenewRun(ctx, id, "a", hour())
			wantCode(t, err, platform.ENOTFOUND)
			wantCode(t, s.SaveStep(ctx, id, "a", step), platform.ENOTFOUND)
			wantCode(t, s.FinishRun(ctx, id, "a", platform.RunSucceeded, nil, ""), platform.ENOTFOUND)
		}
	})

	t.Run("Renew", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r.ID, "a", past()); err != nil {
			t.Fatal(err)
		}
		// Writes check the owner, not the expiry: a late renewal by the
		// owner is fine while nobody took the run over...
		cancel, err := s.RenewRun(ctx, r.ID, "a", hour())
		if err != nil || cancel {
			t.Fatalf("RenewRun = %v, %v", cancel, err)
		}
		// ...and makes the lease live again.
		_, err = s.AcquireRun(ctx, r.ID, "b", hour())
		wantCode(t, err, platform.ECONFLICT)
		if _, err := s.RenewRun(ctx, r.ID, "a", past()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireRun(ctx, r.ID, "b", hour()); err != nil {
			t.Fatalf("AcquireRun after the renewed lease expired: %v", err)
		}
	})

	t.Run("Steps", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r.ID, "a", hour()); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
		save := func(st *platform.StepRun) {
			t.Helper()
			if err := s.SaveStep(ctx, r.ID, "a", st); err != nil {
				t.Fatalf("SaveStep(%s): %v", st.ID, err)
			}
		}
		// Names that sort in another order than the one they start in.
		fetch := &platform.StepRun{ID: "fetch", Status: platform.StepRunning, Agent: "fetcher", Attempts: 1, StartedAt: &t0}
		fanB := &platform.StepRun{ID: "fan/b", Status: platform.StepRunning, Attempts: 1, StartedAt: &t1}
		fanA := &platform.StepRun{ID: "fan/a", Status: platform.StepRunning, Attempts: 1, StartedAt: &t1}
		each := &platform.StepRun{ID: "each[2]/score", Status: platform.StepSkipped}
		save(fetch)
		save(fanB)
		save(fanA)
		save(each)
		// Replacing a step keeps its place: a retry, then success.
		fetch = &platform.StepRun{ID: "fetch", Status: platform.StepRetrying, Agent: "fetcher-2", Attempts: 2,
			Error: "HTTP 503", StartedAt: &t0}
		save(fetch)
		fetch = &platform.StepRun{ID: "fetch", Status: platform.StepSucceeded, Agent: "fetcher-2", Attempts: 2,
			Output: json.RawMessage(`{"items": [1, 2, 3], "big": 12345678901234567890}`), StartedAt: &t0, FinishedAt: &t2}
		save(fetch)
		fanA = &platform.StepRun{ID: "fan/a", Status: platform.StepFailed, Attempts: 3, Error: "HTTP 400",
			StartedAt: &t1, FinishedAt: &t2}
		save(fanA)

		got := findRun(t, s, r.ID)
		want := []*platform.StepRun{fetch, fanB, fanA, each}
		if !slices.Equal(stepIDs(got.Steps), stepIDs(want)) {
			t.Fatalf("steps %v, want %v", stepIDs(got.Steps), stepIDs(want))
		}
		for i := range want {
			assertSameStep(t, got.Steps[i], want[i])
		}
		if step := got.Step("fan/b"); step == nil || step.Status != platform.StepRunning {
			t.Fatalf("Step(fan/b) = %+v", step)
		}
		// AcquireRun hands the steps to the executor that takes the run.
		acquired, err := s.AcquireRun(ctx, r.ID, "a", hour())
		if err != nil {
			t.Fatal(err)
		}
		assertSameRun(t, acquired, got)

		// A step without an ID, a status or a JSON output is refused.
		for _, bad := range []*platform.StepRun{
			{Status: platform.StepRunning},
			{ID: "x"},
			{ID: "x", Status: platform.StepSucceeded, Output: json.RawMessage(`{`)},
		} {
			wantCode(t, s.SaveStep(ctx, r.ID, "a", bad), platform.EINVALID)
		}
		assertSameRun(t, findRun(t, s, r.ID), got)
	})

	t.Run("Finish", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ok := createRun(t, s, NewRun("digest"))
		failed := createRun(t, s, NewRun("digest"))
		for _, r := range []*platform.Run{ok, failed} {
			if _, err := s.AcquireRun(ctx, r.ID, "a", hour()); err != nil {
				t.Fatal(err)
			}
		}
		// Only a terminal status finishes a run.
		for _, status := range []platform.RunStatus{platform.RunQueued, platform.RunRunning, "done"} {
			wantCode(t, s.FinishRun(ctx, ok.ID, "a", status, nil, ""), platform.EINVALID)
		}
		wantCode(t, s.FinishRun(ctx, ok.ID, "a", platform.RunSucceeded, json.RawMessage(`{`), ""), platform.EINVALID)

		before := time.Now().Add(-time.Second)
		output := json.RawMessage(`{"summary": "caf\u00e9", "n": 12345678901234567890}`)
		if err := s.FinishRun(ctx, ok.ID, "a", platform.RunSucceeded, output, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, failed.ID, "a", platform.RunTimedOut, nil, "the workflow timed out after 30s"); err != nil {
			t.Fatal(err)
		}
		got := findRun(t, s, ok.ID)
		if got.Status != platform.RunSucceeded || !sameJSON(got.Output, output) || got.Error != "" ||
			got.FinishedAt == nil || got.FinishedAt.Before(before) || got.StartedAt == nil {
			t.Fatalf("succeeded run: %+v", got)
		}
		gotFailed := findRun(t, s, failed.ID)
		if gotFailed.Status != platform.RunTimedOut || gotFailed.Output != nil ||
			gotFailed.Error != "the workflow timed out after 30s" || gotFailed.FinishedAt == nil {
			t.Fatalf("timed out run: %+v", gotFailed)
		}

		// The lease is freed: the owner can write no more, and an
		// AcquireRun gets the finished run as it is, without a lease.
		_, err := s.RenewRun(ctx, ok.ID, "a", hour())
		wantCode(t, err, platform.ECONFLICT)
		wantCode(t, s.SaveStep(ctx, ok.ID, "a", &platform.StepRun{ID: "late", Status: platform.StepRunning}), platform.ECONFLICT)
		wantCode(t, s.FinishRun(ctx, ok.ID, "a", platform.RunFailed, nil, "again"), platform.ECONFLICT)
		for _, owner := range []string{"a", "b"} {
			acquired, err := s.AcquireRun(ctx, ok.ID, owner, hour())
			if err != nil {
				t.Fatal(err)
			}
			assertSameRun(t, acquired, got)
			_, err = s.RenewRun(ctx, ok.ID, owner, hour())
			wantCode(t, err, platform.ECONFLICT)
		}
		assertSameRun(t, findRun(t, s, ok.ID), got)
		if _, err := s.CancelRun(ctx, ns, failed.ID); err != nil {
			t.Fatal(err)
		}
		assertSameRun(t, findRun(t, s, failed.ID), gotFailed)
	})

	t.Run("RequeueOrphans", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		acquire := func(r *platform.Run, owner string, until time.Time) {
			t.Helper()
			if _, err := s.AcquireRun(ctx, r.ID, owner, until); err != nil {
				t.Fatal(err)
			}
		}
		orphan := createRun(t, s, NewRun("orphan"))
		acquire(orphan, "dead", past())
		live := createRun(t, s, NewRun("live"))
		acquire(live, "alive", hour())
		finished := createRun(t, s, NewRun("finished"))
		acquire(finished, "done", time.Now().Add(100*time.Millisecond))
		if err := s.FinishRun(ctx, finished.ID, "done", platform.RunFailed, nil, "boom"); err != nil {
			t.Fatal(err)
		}
		cancelled := createRun(t, s, NewRun("cancelled"))
		if _, err := s.CancelRun(ctx, ns, cancelled.ID); err != nil {
			t.Fatal(err)
		}
		queued := createRun(t, s, NewRun("queued")) // its job waits; it has no lease
		time.Sleep(150 * time.Millisecond)

		now := time.Now()
		ids, err := s.RequeueOrphans(ctx, now, time.Minute, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{orphan.ID}) {
			t.Fatalf("requeued %v, want only the orphan %s", ids, orphan.ID)
		}
		// A second job: the first is still there, as no queue works them.
		jobs := pending(t, s)
		if count(jobs, orphan.ID) != 2 || count(jobs, live.ID) != 1 || count(jobs, queued.ID) != 1 {
			t.Fatalf("pending jobs %v after requeueing %s", jobs, orphan.ID)
		}
		// Once per grace: the next scans leave it alone until it ends.
		for _, at := range []time.Time{now, now.Add(59 * time.Second)} {
			if ids, err = s.RequeueOrphans(ctx, at, time.Minute, time.Minute); err != nil || len(ids) != 0 {
				t.Fatalf("RequeueOrphans at +%v = %v, %v; want none", at.Sub(now), ids, err)
			}
		}
		// The dead owner lost the run: its writes are refused.
		_, err = s.RenewRun(ctx, orphan.ID, "dead", hour())
		wantCode(t, err, platform.ECONFLICT)
		if got := findRun(t, s, orphan.ID); got.Status != platform.RunRunning {
			t.Fatalf("requeued run: %+v", got)
		}
		// After the grace, an orphan nobody took is requeued again.
		if ids, err = s.RequeueOrphans(ctx, now.Add(2*time.Minute), time.Minute, time.Minute); err != nil || !slices.Equal(ids, []string{orphan.ID}) {
			t.Fatalf("RequeueOrphans after the grace = %v, %v; want [%s]", ids, err, orphan.ID)
		}
		// An executor takes a requeued run at once: the requeue lease only
		// keeps scans off it.
		got, err := s.AcquireRun(ctx, orphan.ID, "new", hour())
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != platform.RunRunning {
			t.Fatalf("acquired requeued run: %+v", got)
		}
		if ids, err = s.RequeueOrphans(ctx, now.Add(4*time.Minute), time.Minute, time.Minute); err != nil || len(ids) != 0 {
			t.Fatalf("RequeueOrphans with the run leased again = %v, %v", ids, err)
		}
		if got := count(pending(t, s), orphan.ID); got != 3 {
			t.Fatalf("%d jobs of the orphan, want 3", got)
		}
	})

	t.Run("RequeueMany", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// More than one batch of the backends' size, whatever it is: scans
		// repeated at one instant requeue every orphan exactly once.
		const orphans = 103
		want := map[string]bool{}
		for range orphans {
			r := createRun(t, s, NewRun("orphan"))
			if _, err := s.AcquireRun(ctx, r.ID, "dead", past()); err != nil {
				t.Fatal(err)
			}
			want[r.ID] = true
		}
		now := time.Now()
		seen := map[string]bool{}
		for range orphans + 1 {
			ids, err := s.RequeueOrphans(ctx, now, time.Minute, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) == 0 {
				break
			}
			for _, id := range ids {
				if seen[id] || !want[id] {
					t.Fatalf("requeued %s twice or unknown", id)
				}
				seen[id] = true
			}
		}
		if len(seen) != orphans {
			t.Fatalf("requeued %d orphans, want %d", len(seen), orphans)
		}
	})
}
