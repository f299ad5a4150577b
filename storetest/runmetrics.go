package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runCountRuns checks CountRuns: the unfinished runs of one namespace, and
// when the oldest queued one was created.
func runCountRuns(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace
	hour := func() time.Time { return time.Now().Add(time.Hour) }
	counts := func(t *testing.T, s Store) platform.RunCounts {
		t.Helper()
		c, err := s.CountRuns(ctx, ns)
		if err != nil {
			t.Fatalf("CountRuns: %v", err)
		}
		return c
	}

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		if got := counts(t, s); got != (platform.RunCounts{}) {
			t.Fatalf("CountRuns of no runs = %+v, want zeros", got)
		}
	})

	t.Run("QueuedAndRunning", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var queued []*platform.Run
		for range 4 {
			queued = append(queued, createRun(t, s, NewRun("digest")))
		}
		elsewhere := NewRun("digest")
		elsewhere.Namespace = "other"
		createRun(t, s, elsewhere)
		want := platform.RunCounts{Queued: 4, OldestQueued: queued[0].CreatedAt}
		if got := counts(t, s); !sameCounts(got, want) {
			t.Fatalf("four queued: %+v, want %+v", got, want)
		}

		// The oldest starts: the next is the oldest queued.
		if _, err := s.AcquireRun(ctx, queued[0].ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		want = platform.RunCounts{Queued: 3, Running: 1, OldestQueued: queued[1].CreatedAt}
		if got := counts(t, s); !sameCounts(got, want) {
			t.Fatalf("one started: %+v, want %+v", got, want)
		}

		// Finished runs, cancelled or done, are not counted.
		if _, err := s.CancelRun(ctx, ns, queued[1].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireRun(ctx, queued[2].ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, queued[0].ID, "x", platform.RunFailed, nil, "boom"); err != nil {
			t.Fatal(err)
		}
		want = platform.RunCounts{Queued: 1, Running: 1, OldestQueued: queued[3].CreatedAt}
		if got := counts(t, s); !sameCounts(got, want) {
			t.Fatalf("after a cancel and a finish: %+v, want %+v", got, want)
		}

		// A running run asked to cancel is still running.
		if _, err := s.CancelRun(ctx, ns, queued[2].ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireRun(ctx, queued[3].ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		want = platform.RunCounts{Running: 2}
		if got := counts(t, s); !sameCounts(got, want) {
			t.Fatalf("none queued: %+v, want %+v", got, want)
		}

		// The other namespace has its own.
		other, err := s.CountRuns(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		if want := (platform.RunCounts{Queued: 1, OldestQueued: elsewhere.CreatedAt}); !sameCounts(other, want) {
			t.Fatalf("other namespace: %+v, want %+v", other, want)
		}
	})
}

func sameCounts(got, want platform.RunCounts) bool {
	return got.Queued == want.Queued && got.Running == want.Running && got.OldestQueued.Equal(want.OldestQueued) &&
		(got.OldestQueued.IsZero() || got.OldestQueued.Location() == time.UTC)
}

// runRunEventData checks what run and step events say for metrics to
// count them by: the workflow's ID (none for an inline workflow), how long
// a run was queued, and how long it ran.
func runRunEventData(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace
	hour := func() time.Time { return time.Now().Add(time.Hour) }

	t.Parallel()
	s := newStore(t)
	w := createWorkflow(t, s, NewWorkflow("digest"))
	stored := NewRun("digest")
	stored.WorkflowID = w.ID
	stored = createRun(t, s, stored)
	inline := createRun(t, s, NewRun("made-up"))
	cancelled := createRun(t, s, NewRun("made-up"))
	for _, r := range []*platform.Run{stored, inline} {
		if _, err := s.AcquireRun(ctx, r.ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		started := time.Now().UTC()
		step := &platform.StepRun{ID: "fetch", Status: platform.StepRunning, Agent: "scout", Attempts: 1, StartedAt: &started}
		if err := s.SaveStep(ctx, r.ID, "x", step); err != nil {
			t.Fatal(err)
		}
		finished := started.Add(1500 * time.Microsecond)
		step.Status, step.FinishedAt = platform.StepSucceeded, &finished
		if err := s.SaveStep(ctx, r.ID, "x", step); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, r.ID, "x", platform.RunSucceeded, json.RawMessage(`{}`), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CancelRun(ctx, ns, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	events := sequence(t, s)

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, r := range []*platform.Run{stored, inline, cancelled} {
		got := findRun(t, s, r.ID)
		var seen []string
		for _, e := range events {
			if e.RunID != r.ID {
				continue
			}
			seen = append(seen, e.Type)
			if r.WorkflowID == "" && strings.Contains(string(e.Data), "workflow_id") {
				t.Errorf("%s of an inline run has a workflow_id: %s", e.Type, e.Data)
			}
			if strings.HasPrefix(e.Type, "step.") {
				var d platform.StepEventData
				decode(t, e, &d)
				if d.Workflow != r.Workflow || d.WorkflowID != r.WorkflowID {
					t.Errorf("%s data %s, want workflow %q and workflow_id %q", e.Type, e.Data, r.Workflow, r.WorkflowID)
				}
				if e.Type == platform.EventStepSucceeded && (d.Duration == nil || *d.Duration != 1.5) {
					t.Errorf("%s data %s, want duration_ms 1.5", e.Type, e.Data)
				}
				continue
			}
			var d platform.RunEventData
			decode(t, e, &d)
			if d.Workflow != r.Workflow || d.WorkflowID != r.WorkflowID {
				t.Errorf("%s data %s, want workflow %q and workflow_id %q", e.Type, e.Data, r.Workflow, r.WorkflowID)
			}
			var wait, took *float64
			switch e.Type {
			case platform.EventRunStarted:
				v := ms(got.StartedAt.Sub(got.CreatedAt))
				wait = &v
			case platform.EventRunSucceeded:
				v := ms(got.FinishedAt.Sub(*got.StartedAt))
				took = &v
			}
			if !sameMillis(d.QueueWait, wait) || !sameMillis(d.Duration, took) {
				t.Errorf("%s data %s, want queued_ms %v and duration_ms %v", e.Type, e.Data, deref(wait), deref(took))
			}
		}
		want := "run.queued run.started step.started step.succeeded run.succeeded"
		if r == cancelled {
			want = "run.queued run.cancelled" // never started: no duration
		}
		if strings.Join(seen, " ") != want {
			t.Errorf("events of run %s: %v, want %s", r.Workflow, seen, want)
		}
	}
}

func sameMillis(got, want *float64) bool {
	return (got == nil) == (want == nil) && (got == nil || *got == *want)
}

func deref(f *float64) any {
	if f == nil {
		return "none"
	}
	return *f
}
