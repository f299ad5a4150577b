package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runEventNamespaces checks that every event carries the namespace of what
// it concerns, as sequenced and as listed, and that EventQuery.Namespaces
// selects by it.
func runEventNamespaces(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	hour := func() time.Time { return time.Now().Add(time.Hour) }

	t.Run("EveryChange", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		// The same names in two namespaces, and every kind of change in
		// the second.
		const team = "team-a"
		create(t, s, NewAgent("scout"))
		scout := NewAgent("scout")
		scout.Namespace = team
		create(t, s, scout)
		if _, err := s.UpdateAgent(ctx, team, "scout", func(a *platform.Agent) error { a.Version = "2"; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAgentHealth(ctx, scout.ID, platform.AgentHealth{Status: platform.HealthHealthy}); err != nil {
			t.Fatal(err)
		}
		createWorkflow(t, s, NewWorkflow("digest"))
		w := NewWorkflow("digest")
		w.Namespace = team
		createWorkflow(t, s, w)
		w.Version = "2"
		put(t, s, w, platform.WorkflowUpdated)
		other := createRun(t, s, NewRun("digest"))
		r := NewRun("digest")
		r.Namespace, r.WorkflowID = team, w.ID
		createRun(t, s, r)
		if _, err := s.AcquireRun(ctx, r.ID, "x", hour()); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.SaveStep(ctx, r.ID, "x", &platform.StepRun{ID: "a", Status: platform.StepSucceeded, Agent: "scout",
			Attempts: 1, StartedAt: &now, FinishedAt: &now}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, r.ID, "x", platform.RunSucceeded, json.RawMessage(`{}`), ""); err != nil {
			t.Fatal(err)
		}
		queued := NewRun("digest")
		queued.Namespace = team
		createRun(t, s, queued)
		if _, err := s.CancelRun(ctx, team, queued.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWorkflow(ctx, team, "digest"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(ctx, team, "scout"); err != nil {
			t.Fatal(err)
		}

		sequenced := sequence(t, s)
		want := []struct{ typ, ns string }{
			{platform.EventAgentRegistered, platform.DefaultNamespace},
			{platform.EventAgentRegistered, team},
			{platform.EventAgentUpdated, team},
			{platform.EventAgentHealthChanged, team},
			{platform.EventWorkflowCreated, platform.DefaultNamespace},
			{platform.EventWorkflowCreated, team},
			{platform.EventWorkflowUpdated, team},
			{platform.EventRunQueued, platform.DefaultNamespace},
			{platform.EventRunQueued, team},
			{platform.EventRunStarted, team},
			{platform.EventStepSucceeded, team},
			{platform.EventRunSucceeded, team},
			{platform.EventRunQueued, team},
			{platform.EventRunCancelled, team},
			{platform.EventWorkflowDeleted, team},
			{platform.EventAgentDeleted, team},
		}
		listed := listEvents(t, s, platform.EventQuery{})
		for name, got := range map[string][]platform.Event{"sequenced": sequenced, "listed": listed} {
			if len(got) != len(want) {
				t.Fatalf("%s %s", name, types(got))
			}
			for i, e := range got {
				if e.Type != want[i].typ || e.Namespace != want[i].ns {
					t.Errorf("%s event %d is %s in %q, want %s in %q", name, e.ID, e.Type, e.Namespace, want[i].typ, want[i].ns)
				}
			}
		}
		// The events a statement completes from the run's row keep the
		// rest of their data.
		var step platform.StepEventData
		var done platform.RunEventData
		decode(t, listed[10], &step)
		decode(t, listed[11], &done)
		if step.Workflow != "digest" || step.WorkflowID != w.ID || step.Step != "a" {
			t.Errorf("step.succeeded data %+v", step)
		}
		if done.Workflow != "digest" || done.WorkflowID != w.ID || done.Duration == nil {
			t.Errorf("run.succeeded data %+v", done)
		}

		teamIDs := func(es []platform.Event, keep func(platform.Event) bool) []int64 {
			var out []int64
			for _, e := range es {
				if keep(e) {
					out = append(out, e.ID)
				}
			}
			return out
		}
		inTeam := func(e platform.Event) bool { return e.Namespace == team }
		runChan, err := platform.ParseChannels("run-events,run:" + other.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			q    platform.EventQuery
			want []int64
		}{
			{"one namespace", platform.EventQuery{Namespaces: []string{team}}, teamIDs(listed, inTeam)},
			{"both", platform.EventQuery{Namespaces: []string{team, platform.DefaultNamespace}}, teamIDs(listed, func(platform.Event) bool { return true })},
			{"none of them", platform.EventQuery{Namespaces: []string{"nobody"}}, nil},
			{"after", platform.EventQuery{Namespaces: []string{team}, After: 12}, []int64{13, 14, 15, 16}},
			{"limit", platform.EventQuery{Namespaces: []string{platform.DefaultNamespace}, Limit: 2}, []int64{1, 5}},
			// The channel of the default namespace's run selects nothing in
			// the other namespace.
			{"channels", platform.EventQuery{Namespaces: []string{team}, Channels: runChan}, []int64{9, 10, 11, 12, 13, 14}},
			{"channel of another namespace", platform.EventQuery{Namespaces: []string{team}, Channels: runChan[1:]}, nil},
		} {
			got := listEvents(t, s, tc.q)
			var ids []int64
			for _, e := range got {
				ids = append(ids, e.ID)
				if len(tc.q.Namespaces) > 0 && !slices.Contains(tc.q.Namespaces, e.Namespace) {
					t.Errorf("%s: listed event %d of namespace %q", tc.name, e.ID, e.Namespace)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("%s: ids %v, want %v", tc.name, ids, tc.want)
			}
		}
	})

	t.Run("RequeuedRunKeepsItsNamespace", func(t *testing.T) {
		// A requeued run's later events are still of its namespace.
		t.Parallel()
		s := newStore(t)
		r := NewRun("digest")
		r.Namespace = "team-b"
		createRun(t, s, r)
		if _, err := s.AcquireRun(ctx, r.ID, "dead", time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		ids, err := s.RequeueOrphans(ctx, time.Now(), time.Minute, time.Hour)
		if err != nil || !slices.Equal(ids, []string{r.ID}) {
			t.Fatalf("RequeueOrphans = %v, %v", ids, err)
		}
		if jobs := pending(t, s); count(jobs, r.ID) != 2 {
			t.Fatalf("pending jobs %v, want the run's twice", jobs)
		}
		if _, err := s.AcquireRun(ctx, r.ID, "alive", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, r.ID, "alive", platform.RunFailed, nil, "gave up"); err != nil {
			t.Fatal(err)
		}
		for _, e := range sequence(t, s) {
			if e.Namespace != "team-b" {
				t.Errorf("event %d (%s) of namespace %q, want team-b", e.ID, e.Type, e.Namespace)
			}
		}
	})
}
