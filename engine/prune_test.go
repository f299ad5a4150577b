package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/ossatest"
)

func TestPruneOldRuns(t *testing.T) { backends(t, testPruneOldRuns) }

// testPruneOldRuns checks that PruneOldRuns deletes every run that
// finished longer than RunRetention ago, in batches, logs how many, and
// leaves running runs and a retention of 0 alone.
func testPruneOldRuns(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	release := make(chan struct{})
	e.agent("ok", nil, echo("ok"))
	e.agent("held", nil, func(agentCall) (int, string) { <-release; return 200, `{}` })
	e.t.Cleanup(func() { close(release) })
	// More finished runs than one batch deletes.
	const finished, batch = 7, 3
	var wg sync.WaitGroup
	ids := make([]string, finished)
	for i := range finished {
		id, err := e.submit(`{"steps":[{"id":"a","ref":"ok"}]}`, nil, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	for _, id := range ids {
		wg.Go(func() { e.wait(id, 60*time.Second) })
	}
	wg.Wait()
	held, err := e.submit(`{"steps":[{"id":"a","ref":"held"}]}`, nil, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	for r := findRun(t, e, held); r.Status != platform.RunRunning || len(r.Steps) == 0; r = findRun(t, e, held) {
		time.Sleep(10 * time.Millisecond)
	}

	// A retention of 0 keeps every run, and so does a cutoff they are
	// younger than.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	for _, cfg := range []engine.Config{{Now: later}, {RunRetention: 3 * time.Hour, Now: later}} {
		if err := ossatest.Engine(e.db, cfg).PruneOldRuns(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRuns(t, e); n != finished+1 {
		t.Fatalf("%d runs after pruning nothing, want %d", n, finished+1)
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	pruner := ossatest.Engine(e.db, engine.Config{RunRetention: time.Hour, PruneBatch: batch, Now: later, Logger: logger})
	if err := pruner.PruneOldRuns(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countRuns(t, e); n != 1 {
		t.Fatalf("%d runs after pruning, want only the running one", n)
	}
	if r := findRun(t, e, held); r.Status != platform.RunRunning {
		t.Fatalf("running run = %s", dump(r))
	}
	var line struct {
		Msg  string `json:"msg"`
		Runs int    `json:"runs"`
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "pruned finished runs" || line.Runs != finished {
		t.Fatalf("log %q (%v), want one line saying %d runs were pruned", logs.String(), err, finished)
	}
}

func findRun(t *testing.T, e *env, id string) *platform.Run {
	t.Helper()
	r, err := e.db.FindRun(context.Background(), platform.DefaultNamespace, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func countRuns(t *testing.T, e *env) int {
	t.Helper()
	n := 0
	f := platform.RunFilter{Namespace: platform.DefaultNamespace, Limit: platform.MaxPageSize}
	for {
		page, err := e.db.ListRuns(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
		if page.Next == "" {
			return n
		}
		f.After = page.Next
	}
}

func TestPruneOldAudit(t *testing.T) { backends(t, testPruneOldAudit) }

// testPruneOldAudit checks that PruneOldRuns also deletes the audit
// records older than AuditRetention, in batches, and logs how many; a
// retention of 0 keeps them all.
func testPruneOldAudit(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	ctx := context.Background()
	now := time.Now()
	var records []platform.AuditRecord
	for i := range 7 {
		records = append(records, platform.AuditRecord{Time: now.Add(-time.Duration(i+2) * time.Hour), Action: platform.AuditAgentCreate,
			Target: platform.AuditTarget{Kind: platform.AuditTargetAgent}, Outcome: platform.AuditOK, Count: 1})
	}
	records = append(records, platform.AuditRecord{Time: now, Action: platform.AuditAgentDelete,
		Target: platform.AuditTarget{Kind: platform.AuditTargetAgent}, Outcome: platform.AuditOK, Count: 1})
	if err := e.db.RecordAudit(ctx, records...); err != nil {
		t.Fatal(err)
	}
	count := func() []platform.AuditRecord {
		t.Helper()
		page, err := e.db.ListAudit(ctx, platform.AuditFilter{Limit: platform.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		return page.Items
	}
	for _, cfg := range []engine.Config{{RunRetention: time.Hour}, {AuditRetention: 24 * time.Hour}} {
		if err := ossatest.Engine(e.db, cfg).PruneOldRuns(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(count()); n != 8 {
		t.Fatalf("%d audit records after pruning nothing, want 8", n)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	pruner := ossatest.Engine(e.db, engine.Config{AuditRetention: time.Hour, PruneBatch: 3, Logger: logger})
	if err := pruner.PruneOldRuns(ctx); err != nil {
		t.Fatal(err)
	}
	if left := count(); len(left) != 1 || left[0].Action != platform.AuditAgentDelete {
		t.Fatalf("after pruning: %+v, want only the new record", left)
	}
	var line struct {
		Msg     string `json:"msg"`
		Records int    `json:"records"`
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "pruned audit records" || line.Records != 7 {
		t.Fatalf("log %q (%v), want one line saying 7 audit records were pruned", logs.String(), err)
	}
}
