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
