package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

func runEvents(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace
	hour := func() time.Time { return time.Now().Add(time.Hour) }

	t.Run("EveryChange", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		before := time.Now().Add(-time.Second)
		a := create(t, s, NewAgent("scout"))
		if _, err := s.UpdateAgent(ctx, ns, "scout", func(a *platform.Agent) error { a.Version = "2.0.0"; return nil }); err != nil {
			t.Fatal(err)
		}
		up := platform.AgentHealth{Status: platform.HealthHealthy}
		for range 2 { // the second is no change, so no event
			if err := s.SetAgentHealth(ctx, a.ID, up); err != nil {
				t.Fatal(err)
			}
		}
		w := createWorkflow(t, s, NewWorkflow("digest"))
		r := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r.ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		step := &platform.StepRun{ID: "fetch", Status: platform.StepRunning, Agent: "scout", Attempts: 1, StartedAt: &now}
		save := func(status platform.StepStatus, attempts int, msg string) {
			step.Status, step.Attempts, step.Error = status, attempts, msg
			if err := s.SaveStep(ctx, r.ID, "x", step); err != nil {
				t.Fatal(err)
			}
		}
		save(platform.StepRunning, 1, "")
		save(platform.StepRetrying, 1, "agent answered 503")
		save(platform.StepRunning, 2, "")
		step.FinishedAt = &now
		save(platform.StepSucceeded, 2, "")
		if err := s.FinishRun(ctx, r.ID, "x", platform.RunSucceeded, json.RawMessage(`{"ok":true}`), ""); err != nil {
			t.Fatal(err)
		}
		queued := createRun(t, s, NewRun("digest"))
		if _, err := s.CancelRun(ctx, ns, queued.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWorkflow(ctx, ns, "digest"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(ctx, ns, "scout"); err != nil {
			t.Fatal(err)
		}

		// Nothing is listed before it is sequenced.
		if got := listEvents(t, s, platform.EventQuery{}); len(got) != 0 {
			t.Fatalf("listed %d events before sequencing", len(got))
		}
		got := sequence(t, s)
		want := []struct{ typ, agent, run string }{
			{platform.EventAgentRegistered, "scout", ""},
			{platform.EventAgentUpdated, "scout", ""},
			{platform.EventAgentHealthChanged, "scout", ""},
			{platform.EventWorkflowCreated, "", ""},
			{platform.EventRunQueued, "", r.ID},
			{platform.EventRunStarted, "", r.ID},
			{platform.EventStepStarted, "scout", r.ID},
			{platform.EventStepRetrying, "scout", r.ID},
			{platform.EventStepStarted, "scout", r.ID},
			{platform.EventStepSucceeded, "scout", r.ID},
			{platform.EventRunSucceeded, "", r.ID},
			{platform.EventRunQueued, "", queued.ID},
			{platform.EventRunCancelled, "", queued.ID},
			{platform.EventWorkflowDeleted, "", ""},
			{platform.EventAgentDeleted, "scout", ""},
		}
		if len(got) != len(want) {
			t.Fatalf("sequenced %d events, want %d: %s", len(got), len(want), types(got))
		}
		for i, e := range got {
			w := want[i]
			if e.ID != int64(i+1) || e.Type != w.typ || e.Agent != w.agent || e.RunID != w.run ||
				e.Time.Before(before) || e.Time.Location() != time.UTC || !json.Valid(e.Data) {
				t.Fatalf("event %d = %+v, want id %d, %+v", i, e, i+1, w)
			}
		}
		// The data says what changed.
		var health platform.AgentEventData
		var step2 platform.StepEventData
		var runDone, cancelled platform.RunEventData
		var wf platform.WorkflowEventData
		decode(t, got[2], &health)
		decode(t, got[3], &wf)
		decode(t, got[8], &step2)
		decode(t, got[10], &runDone)
		decode(t, got[12], &cancelled)
		if health.ID != a.ID || health.Name != "scout" || health.Health.Status != platform.HealthHealthy ||
			health.PreviousHealth != platform.HealthUnknown {
			t.Errorf("health_changed data %+v", health)
		}
		if wf.ID != w.ID || wf.Name != "digest" {
			t.Errorf("workflow.created data %+v", wf)
		}
		if step2.RunID != r.ID || step2.Step != "fetch" || step2.Attempt != 2 || step2.Agent != "scout" ||
			step2.Status != platform.StepRunning {
			t.Errorf("second step.started data %+v", step2)
		}
		if runDone.RunID != r.ID || runDone.Workflow != "digest" || runDone.Status != platform.RunSucceeded {
			t.Errorf("run.succeeded data %+v", runDone)
		}
		if cancelled.Status != platform.RunCancelled || cancelled.Error == "" || cancelled.Workflow != "digest" {
			t.Errorf("run.cancelled data %+v", cancelled)
		}
		// Listing returns the same events, byte for byte.
		if listed := listEvents(t, s, platform.EventQuery{}); !sameEvents(listed, got) {
			t.Fatalf("listed\n%s\nsequenced\n%s", types(listed), types(got))
		}
		if again := sequence(t, s); len(again) != 0 {
			t.Fatalf("sequenced again: %s", types(again))
		}
		if last, err := s.LastEventID(ctx); err != nil || last != int64(len(want)) {
			t.Fatalf("LastEventID = %d, %v; want %d", last, err, len(want))
		}
	})

	t.Run("FailedChangesWriteNoEvent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := create(t, s, NewAgent("scout"))
		r := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r.ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		base := len(sequence(t, s))
		boom := errors.New("boom")
		dup := NewAgent("scout")
		dup.Normalize()
		fails := []error{
			s.CreateAgent(ctx, dup),
			func() error {
				_, err := s.UpdateAgent(ctx, ns, "scout", func(*platform.Agent) error { return boom })
				return err
			}(),
			s.DeleteAgent(ctx, ns, "nobody"),
			s.SetAgentHealth(ctx, "0190b1b2-0000-7000-8000-000000000000", platform.AgentHealth{Status: platform.HealthHealthy}),
			s.DeleteWorkflow(ctx, ns, "nothing"),
			s.SaveStep(ctx, r.ID, "intruder", &platform.StepRun{ID: "a", Status: platform.StepRunning, Attempts: 1}),
			s.FinishRun(ctx, r.ID, "intruder", platform.RunFailed, nil, "no"),
		}
		for i, err := range fails {
			if err == nil {
				t.Fatalf("change %d did not fail", i)
			}
		}
		if got := sequence(t, s); len(got) != 0 {
			t.Fatalf("failed changes wrote events: %s", types(got))
		}
		_ = a
		if last, _ := s.LastEventID(ctx); last != int64(base) {
			t.Fatalf("LastEventID = %d, want %d", last, base)
		}
	})

	t.Run("Channels", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		create(t, s, NewAgent("scout"))
		create(t, s, NewAgent("judge"))
		createWorkflow(t, s, NewWorkflow("digest"))
		r1 := createRun(t, s, NewRun("digest"))
		r2 := createRun(t, s, NewRun("digest"))
		if _, err := s.AcquireRun(ctx, r1.ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveStep(ctx, r1.ID, "x", &platform.StepRun{ID: "a", Status: platform.StepRunning, Agent: "judge", Attempts: 1}); err != nil {
			t.Fatal(err)
		}
		all := sequence(t, s)
		if len(all) != 7 {
			t.Fatalf("sequenced %s", types(all))
		}
		for _, tc := range []struct {
			channels string
			after    int64
			limit    int
			want     []int64
		}{
			{"*", 0, 0, []int64{1, 2, 3, 4, 5, 6, 7}},
			{"", 5, 0, []int64{6, 7}},
			{"*", 0, 2, []int64{1, 2}},
			{"agent-events", 0, 0, []int64{1, 2}},
			{"workflow-events", 0, 0, []int64{3}},
			{"run-events", 4, 0, []int64{5, 6, 7}},
			{"run:" + r1.ID, 0, 0, []int64{4, 6, 7}},
			{"run:" + r2.ID, 0, 0, []int64{5}},
			{"agent:judge", 0, 0, []int64{2, 7}},
			{"agent:nobody", 0, 0, nil},
			{"agent:scout,run:" + r2.ID, 0, 0, []int64{1, 5}},
			{"workflow-events,*", 6, 0, []int64{7}},
		} {
			chans, err := platform.ParseChannels(tc.channels)
			if err != nil {
				t.Fatal(err)
			}
			got := listEvents(t, s, platform.EventQuery{After: tc.after, Channels: chans, Limit: tc.limit})
			var ids []int64
			for _, e := range got {
				ids = append(ids, e.ID)
				if !platform.MatchAny(chans, &e) {
					t.Errorf("%q listed event %d (%s) that does not match", tc.channels, e.ID, e.Type)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("%q after %d limit %d: ids %v, want %v", tc.channels, tc.after, tc.limit, ids, tc.want)
			}
		}
	})

	t.Run("ConcurrentSequencing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers, each = 4, 15
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			batches [][]platform.Event
			done    = make(chan struct{})
		)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := s.CreateAgent(ctx, NewAgent(fmt.Sprintf("w%d-%d", w, i))); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		var seq sync.WaitGroup
		for range 2 {
			seq.Add(1)
			go func() {
				defer seq.Done()
				for {
					b, err := s.SequenceEvents(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if len(b) > 0 {
						mu.Lock()
						batches = append(batches, b)
						mu.Unlock()
					}
					select {
					case <-done:
						return
					default:
					}
				}
			}()
		}
		wg.Wait()
		close(done)
		seq.Wait()
		batches = append(batches, sequence(t, s))
		seen := map[int64]string{}
		names := map[string]bool{}
		for _, b := range batches {
			for i, e := range b {
				if i > 0 && e.ID != b[i-1].ID+1 {
					t.Fatalf("batch not contiguous: %d after %d", e.ID, b[i-1].ID)
				}
				if prev, ok := seen[e.ID]; ok {
					t.Fatalf("id %d given twice (%s, %s)", e.ID, prev, e.Agent)
				}
				seen[e.ID], names[e.Agent] = e.Agent, true
			}
		}
		if len(seen) != writers*each || len(names) != writers*each {
			t.Fatalf("sequenced %d events for %d agents, want %d", len(seen), len(names), writers*each)
		}
		for id := int64(1); id <= writers*each; id++ {
			if _, ok := seen[id]; !ok {
				t.Fatalf("id %d missing: ids have a gap", id)
			}
		}
	})

	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		create(t, s, NewAgent("a1"))
		create(t, s, NewAgent("a2"))
		sequence(t, s)
		create(t, s, NewAgent("a3")) // not yet sequenced: never pruned
		n, err := s.PruneEvents(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("PruneEvents = %d, %v; want 2", n, err)
		}
		if got := listEvents(t, s, platform.EventQuery{}); len(got) != 0 {
			t.Fatalf("left %s", types(got))
		}
		// IDs go on from where they were, never again from 1.
		got := sequence(t, s)
		if len(got) != 1 || got[0].ID != 3 || got[0].Agent != "a3" {
			t.Fatalf("after pruning, sequenced %+v", got)
		}
		if n, err := s.PruneEvents(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("pruning nothing old = %d, %v", n, err)
		}
	})
}

func sequence(t *testing.T, s Store) []platform.Event {
	t.Helper()
	var all []platform.Event
	for {
		b, err := s.SequenceEvents(context.Background())
		if err != nil {
			t.Fatalf("SequenceEvents: %v", err)
		}
		if len(b) == 0 {
			return all
		}
		all = append(all, b...)
	}
}

func listEvents(t *testing.T, s Store, q platform.EventQuery) []platform.Event {
	t.Helper()
	got, err := s.ListEvents(context.Background(), q)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", q, err)
	}
	return got
}

func decode(t *testing.T, e platform.Event, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("event %d data %s: %v", e.ID, e.Data, err)
	}
}

func types(es []platform.Event) string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%d:%s", e.ID, e.Type))
	}
	return fmt.Sprint(out)
}

func sameEvents(a, b []platform.Event) bool {
	return slices.EqualFunc(a, b, func(x, y platform.Event) bool {
		return x.ID == y.ID && x.Type == y.Type && x.Time.Equal(y.Time) && x.Agent == y.Agent &&
			x.RunID == y.RunID && x.Namespace == y.Namespace && sameJSON(x.Data, y.Data)
	})
}
