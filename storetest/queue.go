package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/queue"
)

// executor is a RunExecutor that runs every run to success at once, as the
// engine would with a workflow of one step, and reports each run it saw.
type executor struct {
	s      Store
	seen   chan string
	reaps  atomic.Int32
	prunes atomic.Int32
}

func (e *executor) ExecuteRun(ctx context.Context, id string) error {
	r, err := e.s.AcquireRun(ctx, id, "storetest", time.Now().Add(time.Minute))
	if err != nil {
		return err
	}
	if !r.Status.Terminal() {
		now := time.Now()
		step := &platform.StepRun{ID: "only", Status: platform.StepSucceeded, Attempts: 1, StartedAt: &now, FinishedAt: &now}
		if err := e.s.SaveStep(ctx, id, "storetest", step); err != nil {
			return err
		}
		if err := e.s.FinishRun(ctx, id, "storetest", platform.RunSucceeded, json.RawMessage(`{"done":true}`), ""); err != nil {
			return err
		}
	}
	e.seen <- id
	return nil
}

func (e *executor) ReapOrphans(ctx context.Context) error {
	e.reaps.Add(1)
	_, err := e.s.RequeueOrphans(ctx, time.Now(), time.Minute, time.Minute)
	return err
}

func (e *executor) PruneOldRuns(context.Context) error {
	e.prunes.Add(1)
	return nil
}

// runQueue checks that the store's queue really executes runs: those
// enqueued before it started and after, through the store's own River.
func runQueue(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Executes", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t)
		early := createRun(t, s, NewRun("early"))
		cancelled := createRun(t, s, NewRun("cancelled"))
		if _, err := s.CancelRun(ctx, platform.DefaultNamespace, cancelled.ID); err != nil {
			t.Fatal(err)
		}
		e := &executor{s: s, seen: make(chan string, 16)}
		if err := s.StartQueue(ctx, queue.Config{Executor: e, Workers: 4, ReapEvery: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := s.StartQueue(ctx, queue.Config{Executor: e}); err == nil {
			t.Fatal("StartQueue succeeded twice")
		}
		late := createRun(t, s, NewRun("late"))

		want := []string{early.ID, cancelled.ID, late.ID}
		var seen []string
		deadline := time.After(30 * time.Second)
		for len(seen) < len(want) {
			select {
			case id := <-e.seen:
				seen = append(seen, id)
			case <-deadline:
				t.Fatalf("executed %v of %v in 30s; pending jobs %v", seen, want, pending(t, s))
			}
		}
		slices.Sort(seen)
		slices.Sort(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("executed %v, want %v", seen, want)
		}
		for _, id := range []string{early.ID, late.ID} {
			if r := findRun(t, s, id); r.Status != platform.RunSucceeded || len(r.Steps) != 1 {
				t.Fatalf("executed run: %+v", r)
			}
		}
		if r := findRun(t, s, cancelled.ID); r.Status != platform.RunCancelled {
			t.Fatalf("a run cancelled while queued was executed: %+v", r)
		}
		// River marks the jobs completed, and its elected leader calls the
		// reaper and the pruner (at once, then periodically).
		for start := time.Now(); len(pending(t, s)) > 0 || e.reaps.Load() == 0 || e.prunes.Load() == 0; time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("after 30s: pending jobs %v, %d reaps, %d prunes", pending(t, s), e.reaps.Load(), e.prunes.Load())
			}
		}
	})
	t.Run("RequeuesFetchedButNotLeased", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		s := newStore(t)
		// An executor that hangs after the queue handed it the job and
		// before it takes the run's lease, as a gateway that died there
		// would, until its job is cancelled; it executes later jobs.
		hung := make(chan struct{})
		var calls atomic.Int32
		e := &hangingExecutor{executor: executor{s: s, seen: make(chan string, 16)}, hung: hung, calls: &calls}
		run := createRun(t, s, NewRun("fetched"))
		if err := s.StartQueue(ctx, queue.Config{Executor: e, Workers: 2, ReapEvery: time.Hour}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-hung:
		case <-time.After(30 * time.Second):
			t.Fatal("the queue never handed the run's job to the executor")
		}
		if r := findRun(t, s, run.ID); r.Status != platform.RunQueued {
			t.Fatalf("run %+v, want queued: the executor has not leased it", r)
		}
		now := time.Now()
		// Not yet stuck: the job has been running for less than stuck.
		if ids, err := s.RequeueOrphans(ctx, now, time.Minute, time.Minute); err != nil || len(ids) != 0 {
			t.Fatalf("RequeueOrphans with a fresh job = %v, %v; want none", ids, err)
		}
		// A minute on, it is: the run is requeued and the job cancelled.
		ids, err := s.RequeueOrphans(ctx, now.Add(2*time.Minute), time.Minute, time.Minute)
		if err != nil || !slices.Equal(ids, []string{run.ID}) {
			t.Fatalf("RequeueOrphans with a stuck job = %v, %v; want [%s]", ids, err, run.ID)
		}
		if ids, err := s.RequeueOrphans(ctx, now.Add(2*time.Minute), time.Minute, time.Minute); err != nil || len(ids) != 0 {
			t.Fatalf("RequeueOrphans again within the grace = %v, %v; want none", ids, err)
		}
		// The live queue cancels the hung attempt and works the new job.
		select {
		case id := <-e.seen:
			if id != run.ID {
				t.Fatalf("executed %s, want %s", id, run.ID)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the requeued run was not executed; pending jobs %v", pending(t, s))
		}
		if r := findRun(t, s, run.ID); r.Status != platform.RunSucceeded {
			t.Fatalf("requeued run %+v, want succeeded", r)
		}
		for start := time.Now(); len(pending(t, s)) > 0; time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("jobs still pending after the run ended: %v", pending(t, s))
			}
		}
	})
}

// hangingExecutor is an executor whose first call waits, without leasing
// the run, until its job's context ends.
type hangingExecutor struct {
	executor
	hung  chan struct{}
	calls *atomic.Int32
}

func (e *hangingExecutor) ExecuteRun(ctx context.Context, id string) error {
	if e.calls.Add(1) == 1 {
		close(e.hung)
		<-ctx.Done()
		return ctx.Err()
	}
	return e.executor.ExecuteRun(ctx, id)
}
