package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// auditAll lists every audit record f selects, page by page (of limit),
// newest first, checking that the pages neither repeat nor skip a record.
func auditAll(t *testing.T, s Store, f platform.AuditFilter) []platform.AuditRecord {
	t.Helper()
	var all []platform.AuditRecord
	seen := map[string]bool{}
	for range 1000 {
		page, err := s.ListAudit(context.Background(), f)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", f, err)
		}
		for _, a := range page.Items {
			if seen[a.ID] {
				t.Fatalf("record %s on two pages", a.ID)
			}
			seen[a.ID] = true
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all
		}
		f.After = page.Next
	}
	t.Fatal("ListAudit never reached its last page")
	return nil
}

func actions(records []platform.AuditRecord) []string {
	out := make([]string, len(records))
	for i, a := range records {
		out[i] = a.Action
	}
	return out
}

// runAudit checks the audit log: every audited change records who made it,
// from where and in which request, in its own transaction; the engine's
// changes record nothing; and ListAudit's filters, pages and PruneAudit.
func runAudit(t *testing.T, newStore func(t *testing.T) Store) {
	alice := &platform.Principal{Kind: platform.PrincipalAPIKey, Subject: "key-alice", Namespace: "team-a",
		Namespaces: []string{"team-a"}, Scopes: []platform.Scope{platform.ScopeAdmin}}
	asAlice := func(requestID string) context.Context {
		ctx := platform.WithPrincipal(context.Background(), alice)
		return platform.WithRequestInfo(ctx, platform.RequestInfo{ID: requestID, Source: "192.0.2.7"})
	}

	t.Run("EveryChange", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		start := time.Now().Add(-time.Second)
		type want struct {
			action, kind, id, name, detail, request string
		}
		var wants []want
		did := func(request, action, kind, id, name, detail string) {
			wants = append(wants, want{action, kind, id, name, detail, request})
		}

		a := NewAgent("audited")
		a.Namespace = "team-a"
		a.Manifest = &platform.ManifestSource{Format: "yaml", Body: []byte("kind: Agent\n")}
		a.Normalize()
		if err := s.CreateAgent(asAlice("r-1"), a); err != nil {
			t.Fatal(err)
		}
		did("r-1", platform.AuditAgentCreate, "agent", a.ID, "audited", "from a yaml manifest")
		if _, err := s.UpdateAgent(asAlice("r-2"), "team-a", "audited", func(a *platform.Agent) error {
			a.Name, a.Version = "renamed", "2.0.0"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		did("r-2", platform.AuditAgentUpdate, "agent", a.ID, "renamed", "")

		w := NewWorkflow("flow")
		w.Namespace = "team-a"
		if err := s.CreateWorkflow(asAlice("r-3"), w); err != nil {
			t.Fatal(err)
		}
		did("r-3", platform.AuditWorkflowCreate, "workflow", w.ID, "flow", "revision 1")
		put := NewWorkflow("put")
		put.Namespace = "team-a"
		if _, err := s.PutWorkflow(asAlice("r-4"), put, nil); err != nil {
			t.Fatal(err)
		}
		did("r-4", platform.AuditWorkflowCreate, "workflow", put.ID, "put", "revision 1")
		next := NewWorkflow("put")
		next.Namespace, next.Version = "team-a", "2.0.0"
		if _, err := s.PutWorkflow(asAlice("r-5"), next, nil); err != nil {
			t.Fatal(err)
		}
		did("r-5", platform.AuditWorkflowUpdate, "workflow", put.ID, "put", "revision 2")
		same := NewWorkflow("put")
		same.Namespace, same.Version = "team-a", "2.0.0"
		if change, err := s.PutWorkflow(asAlice("r-unchanged"), same, nil); err != nil || change != platform.WorkflowUnchanged {
			t.Fatalf("PutWorkflow of the same = %q, %v", change, err)
		}

		queued := NewRun("flow")
		queued.Namespace = "team-a"
		if err := s.CreateRun(asAlice("r-6"), queued); err != nil {
			t.Fatal(err)
		}
		did("r-6", platform.AuditRunCreate, "run", queued.ID, "flow", "")
		if _, err := s.CancelRun(asAlice("r-7"), "team-a", queued.ID); err != nil {
			t.Fatal(err)
		}
		did("r-7", platform.AuditRunCancel, "run", queued.ID, "flow", platform.AuditCancelledQueued)
		// Cancelling it again changes nothing, and records nothing.
		if _, err := s.CancelRun(asAlice("r-again"), "team-a", queued.ID); err != nil {
			t.Fatal(err)
		}

		// The engine's changes of a run and an agent's health are not
		// audited, whatever their context says.
		running := NewRun("flow")
		running.Namespace = "team-a"
		if err := s.CreateRun(asAlice("r-8"), running); err != nil {
			t.Fatal(err)
		}
		did("r-8", platform.AuditRunCreate, "run", running.ID, "flow", "")
		engine := asAlice("r-engine")
		if _, err := s.AcquireRun(engine, running.ID, "exec", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := s.SaveStep(engine, running.ID, "exec", &platform.StepRun{ID: "s", Status: platform.StepRunning,
			Attempts: 1, StartedAt: &now}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAgentHealth(engine, a.ID, platform.AgentHealth{Status: platform.HealthHealthy, CheckedAt: &now}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CancelRun(asAlice("r-9"), "team-a", running.ID); err != nil {
			t.Fatal(err)
		}
		did("r-9", platform.AuditRunCancel, "run", running.ID, "flow", platform.AuditCancelRequested)
		if err := s.FinishRun(engine, running.ID, "exec", platform.RunCancelled, nil, "cancelled"); err != nil {
			t.Fatal(err)
		}

		if err := s.DeleteWorkflow(asAlice("r-10"), "team-a", "flow"); err != nil {
			t.Fatal(err)
		}
		did("r-10", platform.AuditWorkflowDelete, "workflow", w.ID, "flow", "")
		if err := s.DeleteAgent(asAlice("r-11"), "team-a", "renamed"); err != nil {
			t.Fatal(err)
		}
		did("r-11", platform.AuditAgentDelete, "agent", a.ID, "renamed", "")
		end := time.Now().Add(time.Second)

		got := auditAll(t, s, platform.AuditFilter{Limit: 4})
		if len(got) != len(wants) {
			t.Fatalf("recorded %v, want %d records", actions(got), len(wants))
		}
		var last time.Time
		for i, rec := range got {
			w := wants[len(wants)-1-i] // newest first
			if rec.Action != w.action || rec.Target != (platform.AuditTarget{Kind: w.kind, ID: w.id, Name: w.name}) ||
				rec.Detail != w.detail || rec.RequestID != w.request {
				t.Errorf("record %d = %+v, want %+v", i, rec, w)
			}
			if rec.Principal != (platform.AuditPrincipal{Kind: platform.PrincipalAPIKey, Subject: "key-alice"}) ||
				rec.Namespace != "team-a" || rec.Source != "192.0.2.7" || rec.Outcome != platform.AuditOK || rec.Count != 1 {
				t.Errorf("record %d = %+v", i, rec)
			}
			if rec.Time.Before(start) || rec.Time.After(end) || rec.Time.Location() != time.UTC ||
				!rec.Time.Equal(rec.Time.Truncate(time.Microsecond)) {
				t.Errorf("record %d's time %v is not of the change, in UTC, to the microsecond", i, rec.Time)
			}
			if i > 0 && rec.Time.After(last) {
				t.Errorf("record %d (%v) is newer than the one before it (%v)", i, rec.Time, last)
			}
			last = rec.Time
		}
	})

	t.Run("NoPrincipalIsTheSystem", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := create(t, s, NewAgent("tool-made"))
		got := auditAll(t, s, platform.AuditFilter{})
		if len(got) != 1 || got[0].Principal != platform.SystemPrincipal || got[0].RequestID != "" || got[0].Source != "" ||
			got[0].Target.ID != a.ID || got[0].Namespace != platform.DefaultNamespace {
			t.Fatalf("a change without a principal recorded %+v", got)
		}
	})

	t.Run("RecordAudit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := context.Background()
		at := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
		denied := platform.AuditRecord{Time: at, Action: "GET /api/v1/agents", Target: platform.AuditTarget{Kind: "route",
			Name: "/api/v1/agents"}, Source: "198.51.100.1", RequestID: "req", Outcome: platform.AuditDenied,
			Detail: strings.Repeat("é", platform.MaxAuditDetail), Count: 7}
		unknown := denied
		unknown.Time, unknown.Count, unknown.Detail = time.Time{}, 1, "Unauthorized"
		if err := s.RecordAudit(ctx, denied, unknown); err != nil {
			t.Fatal(err)
		}
		got := auditAll(t, s, platform.AuditFilter{})
		if len(got) != 2 {
			t.Fatalf("listed %d records, want 2", len(got))
		}
		// The one of 2030 is the newest.
		rec := got[0]
		if !rec.Time.Equal(at.Truncate(time.Microsecond)) || rec.Count != 7 || rec.Principal != (platform.AuditPrincipal{}) ||
			rec.Namespace != "" || rec.Outcome != platform.AuditDenied || len(rec.Detail) > platform.MaxAuditDetail {
			t.Fatalf("stored %+v", rec)
		}
		if time.Since(got[1].Time).Abs() > time.Minute {
			t.Fatalf("a record without a time got %v, not now", got[1].Time)
		}
		// A record that cannot be stored fails the batch: none is written.
		for name, bad := range map[string]platform.AuditRecord{
			"no action":       {Target: platform.AuditTarget{Kind: "route"}, Outcome: platform.AuditDenied, Count: 1},
			"no target kind":  {Action: "x.y", Outcome: platform.AuditDenied, Count: 1},
			"unknown outcome": {Action: "x.y", Target: platform.AuditTarget{Kind: "route"}, Outcome: "maybe", Count: 1},
			"no count":        {Action: "x.y", Target: platform.AuditTarget{Kind: "route"}, Outcome: platform.AuditOK},
			"subject, no kind": {Action: "x.y", Target: platform.AuditTarget{Kind: "route"}, Outcome: platform.AuditOK,
				Count: 1, Principal: platform.AuditPrincipal{Subject: "who"}},
		} {
			wantCode(t, s.RecordAudit(ctx, unknown, bad), platform.EINVALID)
			if n := len(auditAll(t, s, platform.AuditFilter{})); n != 2 {
				t.Fatalf("a batch with a record of %s wrote %d records", name, n-2)
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := context.Background()
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
		type spec struct {
			ns, kind, subject, action, tkind, tid, tname string
			outcome                                      platform.AuditOutcome
		}
		specs := []spec{
			{"team-a", "api_key", "alice", "agent.create", "agent", "a1", "echo", platform.AuditOK},
			{"team-a", "api_key", "alice", "agent.delete", "agent", "a1", "echo", platform.AuditOK},
			{"team-b", "oidc", "bob", "agent.create", "agent", "a2", "echo", platform.AuditOK},
			{"team-b", "oidc", "bob", "workflow.update", "workflow", "w1", "flow", platform.AuditOK},
			{"team-a", "api_key", "bob", "GET /api/v1/agents", "route", "", "/api/v1/agents", platform.AuditDenied},
			{"", "", "", "GET /api/v1/runs", "route", "", "/api/v1/runs", platform.AuditDenied},
			{"team-c", "system", "system", "run.create", "run", "r1", "agentx", platform.AuditOK},
		}
		var records []platform.AuditRecord
		for i, sp := range specs {
			records = append(records, platform.AuditRecord{Time: base.Add(time.Duration(i) * time.Minute), Namespace: sp.ns,
				Principal: platform.AuditPrincipal{Kind: platform.PrincipalKind(sp.kind), Subject: sp.subject},
				Action:    sp.action, Target: platform.AuditTarget{Kind: sp.tkind, ID: sp.tid, Name: sp.tname},
				Outcome: sp.outcome, Count: 1, Detail: fmt.Sprint(i)})
		}
		if err := s.RecordAudit(ctx, records...); err != nil {
			t.Fatal(err)
		}
		// details lists the records f selects by their Detail, their
		// index in specs, newest first.
		details := func(f platform.AuditFilter) string {
			var out []string
			for _, a := range auditAll(t, s, f) {
				out = append(out, a.Detail)
			}
			return strings.Join(out, ",")
		}
		for name, c := range map[string]struct {
			f    platform.AuditFilter
			want string
		}{
			"all":                  {platform.AuditFilter{}, "6,5,4,3,2,1,0"},
			"a page of 2":          {platform.AuditFilter{Limit: 2}, "6,5,4,3,2,1,0"},
			"one namespace":        {platform.AuditFilter{Namespaces: []string{"team-a"}}, "4,1,0"},
			"two namespaces":       {platform.AuditFilter{Namespaces: []string{"team-b", "team-c"}, Limit: 1}, "6,3,2"},
			"no namespace at all":  {platform.AuditFilter{Namespaces: []string{}}, ""},
			"a principal":          {platform.AuditFilter{Principal: "bob"}, "4,3,2"},
			"a principal's kind":   {platform.AuditFilter{PrincipalKind: "oidc"}, "3,2"},
			"kind and subject":     {platform.AuditFilter{PrincipalKind: "api_key", Principal: "bob"}, "4"},
			"an action":            {platform.AuditFilter{Action: "agent.create"}, "2,0"},
			"a family of actions":  {platform.AuditFilter{Action: "agent.*"}, "2,1,0"},
			"a star is no pattern": {platform.AuditFilter{Action: "agent*"}, ""},
			"a target kind":        {platform.AuditFilter{TargetKind: "route"}, "5,4"},
			"a target by ID":       {platform.AuditFilter{Target: "a1"}, "1,0"},
			"a target by name":     {platform.AuditFilter{Target: "echo", Namespaces: []string{"team-b"}}, "2"},
			"an outcome":           {platform.AuditFilter{Outcome: platform.AuditDenied}, "5,4"},
			"since":                {platform.AuditFilter{Since: base.Add(5 * time.Minute)}, "6,5"},
			"until":                {platform.AuditFilter{Until: base.Add(2 * time.Minute)}, "1,0"},
			"since and until":      {platform.AuditFilter{Since: base.Add(2 * time.Minute), Until: base.Add(4 * time.Minute)}, "3,2"},
			"everything at once": {platform.AuditFilter{Namespaces: []string{"team-a"}, PrincipalKind: "api_key", Principal: "alice",
				Action: "agent.*", TargetKind: "agent", Target: "echo", Outcome: platform.AuditOK, Since: base,
				Until: base.Add(time.Hour), Limit: 1}, "1,0"},
		} {
			if got := details(c.f); got != c.want {
				t.Errorf("%s: %q, want %q", name, got, c.want)
			}
		}
		// What is stored reads back whole.
		page, err := s.ListAudit(ctx, platform.AuditFilter{Limit: 1, Principal: "bob", Outcome: platform.AuditDenied})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("ListAudit = %+v, %v", page, err)
		}
		got, want := page.Items[0], records[4]
		want.ID = got.ID
		if !sameJSON(mustJSON(t, got), mustJSON(t, want)) {
			t.Errorf("read back\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
		}
		if page.Next != "" {
			t.Errorf("the only record's page offers a next one: %q", page.Next)
		}
		for _, bad := range []string{"nonsense", "42"} {
			_, err := s.ListAudit(ctx, platform.AuditFilter{After: bad})
			wantCode(t, err, platform.EINVALID)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := context.Background()
		now := time.Now()
		var records []platform.AuditRecord
		for _, age := range []time.Duration{4 * time.Hour, 3 * time.Hour, 2 * time.Hour, 0} {
			records = append(records, platform.AuditRecord{Time: now.Add(-age), Action: "agent.create", Detail: age.String(),
				Target: platform.AuditTarget{Kind: "agent"}, Outcome: platform.AuditOK, Count: 1})
		}
		if err := s.RecordAudit(ctx, records...); err != nil {
			t.Fatal(err)
		}
		remaining := func() []string {
			var out []string
			for _, a := range auditAll(t, s, platform.AuditFilter{}) {
				out = append(out, a.Detail)
			}
			return out
		}
		before := now.Add(-90 * time.Minute)
		for _, step := range []struct {
			limit int
			n     int64
			left  []string
		}{
			{0, 0, []string{"0s", "2h0m0s", "3h0m0s", "4h0m0s"}},
			{1, 1, []string{"0s", "2h0m0s", "3h0m0s"}}, // the oldest first
			{10, 2, []string{"0s"}},
			{10, 0, []string{"0s"}},
		} {
			n, err := s.PruneAudit(ctx, before, step.limit)
			if err != nil || n != step.n {
				t.Fatalf("PruneAudit(limit %d) = %d, %v; want %d", step.limit, n, err, step.n)
			}
			if got := remaining(); !slices.Equal(got, step.left) {
				t.Fatalf("after PruneAudit(limit %d): %v, want %v", step.limit, got, step.left)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
