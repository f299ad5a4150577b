package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runDefinition is a workflow definition as a run keeps it, with what
// re-encoding would change: key order, spacing, a number too large for a
// float64, and non-ASCII text.
const runDefinition = `{"kind":"Workflow", "metadata":{"name":"digest"},` +
	`"spec":{"steps":[{"id":"fetch","agent":"fetcher"}],"z":12345678901234567890,"a":"caf\u00e9"}}`

// NewRun returns a run of workflow for tests, with a definition and
// parameters.
func NewRun(workflow string) *platform.Run {
	return &platform.Run{
		Namespace:  platform.DefaultNamespace,
		Workflow:   workflow,
		Parameters: json.RawMessage(`{"topic":"go"}`),
		Definition: json.RawMessage(`{"kind":"Workflow","metadata":{"name":"` + workflow + `"},"spec":{"steps":[]}}`),
	}
}

func createRun(t *testing.T, s Store, r *platform.Run) *platform.Run {
	t.Helper()
	if err := s.CreateRun(context.Background(), r); err != nil {
		t.Fatalf("CreateRun(%s): %v", r.Workflow, err)
	}
	return r
}

func findRun(t *testing.T, s Store, id string) *platform.Run {
	t.Helper()
	r, err := s.FindRun(context.Background(), platform.DefaultNamespace, id)
	if err != nil {
		t.Fatalf("FindRun(%s): %v", id, err)
	}
	return r
}

func pending(t *testing.T, s Store) []string {
	t.Helper()
	ids, err := s.PendingRunJobs(context.Background())
	if err != nil {
		t.Fatalf("PendingRunJobs: %v", err)
	}
	return ids
}

func count(ids []string, id string) int {
	n := 0
	for _, v := range ids {
		if v == id {
			n++
		}
	}
	return n
}

func runRuns(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace

	t.Run("CreateAndFind", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		finished := time.Now()
		r := &platform.Run{
			Workflow:   "digest",
			WorkflowID: "0190b1b2-0000-7000-8000-00000000abcd",
			Parameters: json.RawMessage(`{"topic": "go", "n": 12345678901234567890}`),
			Agents:     []string{"fetcher", "summarizer"},
			Definition: json.RawMessage(runDefinition),
			// What only the store and the engine set is not the caller's.
			ID:              "0190b1b2-0000-7000-8000-000000000001",
			Status:          platform.RunSucceeded,
			Output:          json.RawMessage(`{"forged":true}`),
			Error:           "forged",
			CancelRequested: true,
			Steps:           []*platform.StepRun{{ID: "forged", Status: platform.StepSucceeded}},
			FinishedAt:      &finished,
		}
		before := time.Now().Add(-time.Second)
		createRun(t, s, r)
		if len(r.ID) != 36 || r.ID == "0190b1b2-0000-7000-8000-000000000001" {
			t.Fatalf("CreateRun set ID %q, want a new UUID", r.ID)
		}
		if r.Namespace != ns || r.Status != platform.RunQueued || r.Output != nil || r.Error != "" ||
			r.CancelRequested || r.StartedAt != nil || r.FinishedAt != nil || r.Steps == nil || len(r.Steps) != 0 {
			t.Fatalf("created run %+v", r)
		}
		if r.CreatedAt.Before(before) || r.CreatedAt.Location() != time.UTC || !r.CreatedAt.Equal(r.CreatedAt.Truncate(time.Microsecond)) {
			t.Fatalf("created at %v", r.CreatedAt)
		}
		got := findRun(t, s, r.ID)
		assertSameRun(t, got, r)
		if !slices.Contains(pending(t, s), r.ID) {
			t.Fatalf("run %s has no job: pending %v", r.ID, pending(t, s))
		}

		// Absent parameters and agents come back empty, not null, and an
		// inline workflow has no ID.
		bare := createRun(t, s, &platform.Run{Workflow: "inline", Definition: json.RawMessage(`{}`)})
		got = findRun(t, s, bare.ID)
		if string(got.Parameters) != "{}" || got.Agents == nil || len(got.Agents) != 0 || got.WorkflowID != "" {
			t.Fatalf("bare run: parameters %s, agents %#v, workflow id %q", got.Parameters, got.Agents, got.WorkflowID)
		}
		assertSameRun(t, got, bare)
	})

	t.Run("CreateInvalid", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, r := range []*platform.Run{
			{Workflow: "no-definition"},
			{Workflow: "bad-definition", Definition: json.RawMessage(`{"steps":`)},
			{Workflow: "bad-parameters", Definition: json.RawMessage(`{}`), Parameters: json.RawMessage(`nope`)},
			{Workflow: "bad-workflow-id", Definition: json.RawMessage(`{}`), WorkflowID: "digest"},
		} {
			wantCode(t, s.CreateRun(ctx, r), platform.EINVALID)
		}
		page, err := s.ListRuns(ctx, platform.RunFilter{Namespace: ns, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 0 || len(pending(t, s)) != 0 {
			t.Fatalf("invalid runs left %d runs and jobs %v", len(page.Items), pending(t, s))
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		for _, id := range []string{"absent", "0190b1b2-0000-7000-8000-000000000000", ""} {
			_, err := s.FindRun(ctx, ns, id)
			wantCode(t, err, platform.ENOTFOUND)
			_, err = s.CancelRun(ctx, ns, id)
			wantCode(t, err, platform.ENOTFOUND)
		}
		// A run is found in its own namespace only.
		_, err := s.FindRun(ctx, "other", r.ID)
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.CancelRun(ctx, "other", r.ID)
		wantCode(t, err, platform.ENOTFOUND)
		if got := findRun(t, s, r.ID); got.Status != platform.RunQueued {
			t.Fatalf("cancel in another namespace changed the run: %+v", got)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mk := func(workflow string) string { return createRun(t, s, NewRun(workflow)).ID }
		a1, b1, a2, b2, a3 := mk("alpha"), mk("beta"), mk("alpha"), mk("beta"), mk("alpha")
		if _, err := s.CancelRun(ctx, ns, a2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireRun(ctx, b2, "executor", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		other := NewRun("alpha")
		other.Namespace = "other"
		createRun(t, s, other)

		tests := []struct {
			name string
			f    platform.RunFilter
			want []string
		}{
			{"all", platform.RunFilter{}, []string{a3, b2, a2, b1, a1}},
			{"status", platform.RunFilter{Status: platform.RunQueued}, []string{a3, b1, a1}},
			{"cancelled", platform.RunFilter{Status: platform.RunCancelled}, []string{a2}},
			{"running", platform.RunFilter{Status: platform.RunRunning}, []string{b2}},
			{"workflow", platform.RunFilter{Workflow: "alpha"}, []string{a3, a2, a1}},
			{"combined", platform.RunFilter{Workflow: "alpha", Status: platform.RunQueued}, []string{a3, a1}},
			{"no match", platform.RunFilter{Workflow: "gamma"}, nil},
			{"namespace", platform.RunFilter{Namespace: "other"}, []string{other.ID}},
		}
		for _, tt := range tests {
			if tt.f.Namespace == "" {
				tt.f.Namespace = ns
			}
			tt.f.Limit = platform.MaxPageSize
			page, err := s.ListRuns(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := runIDs(page.Items); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
			if page.Next != "" {
				t.Errorf("%s: Next = %q on the only page", tt.name, page.Next)
			}
			for _, r := range page.Items {
				if len(r.Steps) != 0 {
					t.Errorf("%s: listed run %s carries steps", tt.name, r.ID)
				}
			}
		}
		// Listed runs carry what FindRun gives but steps and definition.
		page, err := s.ListRuns(ctx, platform.RunFilter{Namespace: ns, Status: platform.RunRunning, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		want := findRun(t, s, b2)
		want.Steps, want.Definition = nil, nil
		got := page.Items[0]
		got.Steps = nil
		assertSameRun(t, got, want)
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var want []string
		for i := range 23 {
			want = append(want, createRun(t, s, NewRun(fmt.Sprintf("wf-%02d", i))).ID)
		}
		slices.Reverse(want)
		f := platform.RunFilter{Namespace: ns, Limit: 5}
		var got []string
		for range 100 {
			page, err := s.ListRuns(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) > f.Limit {
				t.Fatalf("page of %d runs for limit %d", len(page.Items), f.Limit)
			}
			got = append(got, runIDs(page.Items)...)
			if page.Next == "" {
				break
			}
			if page.Next != page.Items[len(page.Items)-1].ID {
				t.Fatalf("Next = %q, want the last ID of the page", page.Next)
			}
			// Runs created between pages are newer than the cursor: they
			// never show up on a later page.
			createRun(t, s, NewRun("late"))
			f.After = page.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages gave %v\nwant %v", got, want)
		}
		// An exact multiple of the page size ends without an empty page.
		page, err := s.ListRuns(ctx, platform.RunFilter{Namespace: ns, Workflow: "wf-00", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Next != "" {
			t.Fatalf("limit 1 of 1: %d runs, next %q", len(page.Items), page.Next)
		}
		// A cursor no page gave out is the caller's mistake.
		_, err = s.ListRuns(ctx, platform.RunFilter{Namespace: ns, After: "nope", Limit: 5})
		wantCode(t, err, platform.EINVALID)
	})

	t.Run("CancelQueued", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		before := time.Now().Add(-time.Second)
		got, err := s.CancelRun(ctx, ns, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != platform.RunCancelled || got.Error != "cancelled before it started" ||
			got.FinishedAt == nil || got.FinishedAt.Before(before) || got.StartedAt != nil || got.CancelRequested {
			t.Fatalf("cancelled queued run: %+v", got)
		}
		assertSameRun(t, findRun(t, s, r.ID), got)
		// Its job, when it runs, finds the run over: no executor takes it.
		acquired, err := s.AcquireRun(ctx, r.ID, "executor", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		assertSameRun(t, acquired, got)
		_, err = s.RenewRun(ctx, r.ID, "executor", time.Now().Add(time.Hour))
		wantCode(t, err, platform.ECONFLICT)
		// Cancelling again changes nothing.
		again, err := s.CancelRun(ctx, ns, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertSameRun(t, again, got)
	})

	t.Run("CancelRunning", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		until := time.Now().Add(time.Hour)
		running, err := s.AcquireRun(ctx, r.ID, "executor", until)
		if err != nil {
			t.Fatal(err)
		}
		cancel, err := s.RenewRun(ctx, r.ID, "executor", until)
		if err != nil || cancel {
			t.Fatalf("RenewRun before cancel = %v, %v", cancel, err)
		}
		got, err := s.CancelRun(ctx, ns, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := *running
		want.CancelRequested = true
		assertSameRun(t, got, &want)
		// The executor learns of it at its next renewal, and still owns
		// the run to stop it.
		if cancel, err = s.RenewRun(ctx, r.ID, "executor", until); err != nil || !cancel {
			t.Fatalf("RenewRun after cancel = %v, %v", cancel, err)
		}
		if err := s.FinishRun(ctx, r.ID, "executor", platform.RunCancelled, nil, "cancelled"); err != nil {
			t.Fatal(err)
		}
		if got = findRun(t, s, r.ID); got.Status != platform.RunCancelled || got.Error != "cancelled" {
			t.Fatalf("after finish: %+v", got)
		}
	})

	t.Run("CancelFinished", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		r := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r.ID, "executor", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, r.ID, "executor", platform.RunSucceeded, json.RawMessage(`{"ok":true}`), ""); err != nil {
			t.Fatal(err)
		}
		want := findRun(t, s, r.ID)
		got, err := s.CancelRun(ctx, ns, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertSameRun(t, got, want)
		assertSameRun(t, findRun(t, s, r.ID), want)
	})
}

func runIDs(rs []*platform.Run) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// assertSameRun compares two runs field by field: JSON as JSON values,
// timestamps to the microsecond, steps in order.
func assertSameRun(t *testing.T, got, want *platform.Run) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct {
		name      string
		got, want json.RawMessage
	}{
		{"parameters", g.Parameters, w.Parameters},
		{"output", g.Output, w.Output},
		{"definition", g.Definition, w.Definition},
	} {
		if (len(f.got) == 0) != (len(f.want) == 0) || len(f.got) > 0 && !sameJSON(f.got, f.want) {
			t.Fatalf("run %s %s = %s, want %s", w.ID, f.name, f.got, f.want)
		}
	}
	if !g.CreatedAt.Truncate(time.Microsecond).Equal(w.CreatedAt.Truncate(time.Microsecond)) ||
		!sameTime(g.StartedAt, w.StartedAt) || !sameTime(g.FinishedAt, w.FinishedAt) {
		t.Fatalf("run %s times = %v/%v/%v, want %v/%v/%v", w.ID, g.CreatedAt, g.StartedAt, g.FinishedAt,
			w.CreatedAt, w.StartedAt, w.FinishedAt)
	}
	if len(g.Steps) != len(w.Steps) {
		t.Fatalf("run %s has steps %v, want %v", w.ID, stepIDs(g.Steps), stepIDs(w.Steps))
	}
	for i := range g.Steps {
		assertSameStep(t, g.Steps[i], w.Steps[i])
	}
	g.Parameters, g.Output, g.Definition, g.Steps = nil, nil, nil, nil
	w.Parameters, w.Output, w.Definition, w.Steps = nil, nil, nil, nil
	g.CreatedAt, g.StartedAt, g.FinishedAt = time.Time{}, nil, nil
	w.CreatedAt, w.StartedAt, w.FinishedAt = time.Time{}, nil, nil
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) {
		t.Fatalf("run = %s\nwant  %s", gj, wj)
	}
}

func assertSameStep(t *testing.T, got, want *platform.StepRun) {
	t.Helper()
	g, w := *got, *want
	if (len(g.Output) == 0) != (len(w.Output) == 0) || len(g.Output) > 0 && !sameJSON(g.Output, w.Output) {
		t.Fatalf("step %s output = %s, want %s", w.ID, g.Output, w.Output)
	}
	if !sameTime(g.StartedAt, w.StartedAt) || !sameTime(g.FinishedAt, w.FinishedAt) {
		t.Fatalf("step %s times = %v/%v, want %v/%v", w.ID, g.StartedAt, g.FinishedAt, w.StartedAt, w.FinishedAt)
	}
	g.Output, g.StartedAt, g.FinishedAt = nil, nil, nil
	w.Output, w.StartedAt, w.FinishedAt = nil, nil, nil
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) {
		t.Fatalf("step = %s\nwant   %s", gj, wj)
	}
}

func stepIDs(ss []*platform.StepRun) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}
