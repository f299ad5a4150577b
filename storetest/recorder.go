package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

// runRecorder checks the recorder every change writes its events, jobs
// and audit records through: what a change recorded commits with it, or
// vanishes with it when the change fails, whether its own function failed
// or the database refused one of its writes.
func runRecorder(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace
	const runID = "0190b1b2-0000-7000-8000-0000000000aa"
	recorded := func(typ string) platform.Event {
		e := platform.NewEvent(typ, time.Now(), map[string]string{"name": "recorded"})
		e.Agent, e.Namespace = "recorded", "team-a"
		return e
	}
	audited := platform.NewAudit(platform.WithRequestInfo(context.Background(), platform.RequestInfo{ID: "req-1", Source: "192.0.2.1"}),
		platform.AuditAgentCreate, "team-a", platform.AuditTarget{Kind: platform.AuditTargetAgent, Name: "recorded"})
	nothingLeft := func(t *testing.T, s Store) {
		t.Helper()
		if got := sequence(t, s); len(got) != 0 {
			t.Fatalf("a failed change left events: %s", types(got))
		}
		if jobs := pending(t, s); len(jobs) != 0 {
			t.Fatalf("a failed change left jobs: %v", jobs)
		}
		if got := auditAll(t, s, platform.AuditFilter{}); len(got) != 0 {
			t.Fatalf("a failed change left audit records: %v", actions(got))
		}
	}

	t.Run("FailedChangeLeavesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		boom := errors.New("boom")
		err := s.Record(ctx, func(rec *sqlstore.Recorder) error {
			rec.Event(recorded(platform.EventAgentRegistered))
			rec.Job(runID)
			rec.Audit(audited)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Record = %v, want boom", err)
		}
		nothingLeft(t, s)
	})

	t.Run("RefusedWriteLeavesNothing", func(t *testing.T) {
		// The database refuses the second event, which is not JSON: the
		// job and the first event, written before it, go too.
		t.Parallel()
		s := newStore(t)
		err := s.Record(ctx, func(rec *sqlstore.Recorder) error {
			rec.Job(runID)
			rec.Event(recorded(platform.EventAgentRegistered))
			rec.Audit(audited)
			bad := recorded(platform.EventAgentUpdated)
			bad.Data = json.RawMessage(`{"not json`)
			rec.Event(bad)
			return nil
		})
		if err == nil {
			t.Fatal("Record wrote an event whose data is not JSON")
		}
		nothingLeft(t, s)
	})

	t.Run("RefusedAuditRecordLeavesNothing", func(t *testing.T) {
		// The store refuses the second audit record, which has no action:
		// the change's job, event and first record go too.
		t.Parallel()
		s := newStore(t)
		err := s.Record(ctx, func(rec *sqlstore.Recorder) error {
			rec.Job(runID)
			rec.Event(recorded(platform.EventAgentRegistered))
			rec.Audit(audited)
			bad := audited
			bad.Action = ""
			rec.Audit(bad)
			return nil
		})
		if platform.ErrorCode(err) != platform.EINVALID {
			t.Fatalf("Record of an audit record with no action = %v, want EINVALID", err)
		}
		nothingLeft(t, s)
	})

	t.Run("RefusedChangesLeaveNothing", func(t *testing.T) {
		// Changes the database refuses (a name taken) or whose function
		// fails, made through the store's own methods.
		t.Parallel()
		s := newStore(t)
		create(t, s, NewAgent("taken"))
		create(t, s, NewAgent("free"))
		createWorkflow(t, s, NewWorkflow("taken"))
		base := sequence(t, s)
		audited := auditAll(t, s, platform.AuditFilter{})
		boom := errors.New("boom")
		dup := NewAgent("taken")
		dup.Normalize()
		fails := map[string]error{
			"CreateAgent of a taken name": s.CreateAgent(ctx, dup),
			"UpdateAgent onto a taken name": func() error {
				_, err := s.UpdateAgent(ctx, ns, "free", func(a *platform.Agent) error { a.Name = "taken"; return nil })
				return err
			}(),
			"UpdateAgent whose update fails": func() error {
				_, err := s.UpdateAgent(ctx, ns, "free", func(a *platform.Agent) error { a.Version = "9"; return boom })
				return err
			}(),
			"CreateWorkflow of a taken name": s.CreateWorkflow(ctx, NewWorkflow("taken")),
			"DeleteAgent of no agent":        s.DeleteAgent(ctx, ns, "missing"),
			"DeleteWorkflow of no workflow":  s.DeleteWorkflow(ctx, ns, "missing"),
			"CancelRun of no run": func() error {
				_, err := s.CancelRun(ctx, ns, runID)
				return err
			}(),
			"PutWorkflow whose check fails": func() error {
				_, err := s.PutWorkflow(ctx, NewWorkflow("new"), func(*platform.Workflow) error { return boom })
				return err
			}(),
		}
		for name, err := range fails {
			if err == nil {
				t.Errorf("%s succeeded", name)
			}
		}
		if got := sequence(t, s); len(got) != 0 {
			t.Fatalf("failed changes left events: %s", types(got))
		}
		if jobs := pending(t, s); len(jobs) != 0 {
			t.Fatalf("failed changes left jobs: %v", jobs)
		}
		if got := auditAll(t, s, platform.AuditFilter{}); len(got) != len(audited) {
			t.Fatalf("failed changes left audit records: %v, was %v", actions(got), actions(audited))
		}
		if last, err := s.LastEventID(ctx); err != nil || last != int64(len(base)) {
			t.Fatalf("LastEventID = %d, %v; want %d", last, err, len(base))
		}
	})

	t.Run("CommittedWithTheChange", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		want := recorded(platform.EventAgentRegistered)
		if err := s.Record(ctx, func(rec *sqlstore.Recorder) error {
			rec.Event(want)
			rec.Job(runID)
			rec.Audit(audited)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		records := auditAll(t, s, platform.AuditFilter{})
		if len(records) != 1 || records[0].Action != platform.AuditAgentCreate || records[0].RequestID != "req-1" ||
			records[0].Source != "192.0.2.1" || records[0].Principal != platform.SystemPrincipal || records[0].ID == "" {
			t.Fatalf("recorded %+v", records)
		}
		got := sequence(t, s)
		if len(got) != 1 || got[0].Type != want.Type || got[0].Namespace != "team-a" || got[0].Agent != "recorded" ||
			!got[0].Time.Equal(want.Time) || !sameJSON(got[0].Data, want.Data) {
			t.Fatalf("sequenced %+v, want %+v", got, want)
		}
		if jobs := pending(t, s); !slices.Equal(jobs, []string{runID}) {
			t.Fatalf("pending jobs %v, want %v", jobs, []string{runID})
		}
		// A run's event and job commit with the run.
		r := createRun(t, s, NewRun("digest"))
		got = sequence(t, s)
		if len(got) != 1 || got[0].Type != platform.EventRunQueued || got[0].RunID != r.ID {
			t.Fatalf("CreateRun sequenced %s", types(got))
		}
		if jobs := pending(t, s); !slices.Equal(jobs, []string{runID, r.ID}) {
			t.Fatalf("pending jobs %v after CreateRun, want %v", jobs, []string{runID, r.ID})
		}
		if records := auditAll(t, s, platform.AuditFilter{Action: platform.AuditRunCreate}); len(records) != 1 ||
			records[0].Target.ID != r.ID {
			t.Fatalf("CreateRun recorded %+v", records)
		}
		// A change that records nothing succeeds and records nothing.
		if err := s.Record(ctx, func(*sqlstore.Recorder) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := sequence(t, s); len(got) != 0 {
			t.Fatalf("an empty change wrote %s", types(got))
		}
	})
}
