package http_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// TestRunMetrics drives runs of a stored workflow and of an inline one
// through a gateway and real agents, and reads what /metrics counted: runs
// by workflow and status, their durations and queue waits, steps and
// their retries. Inline runs are labelled "inline", not by the name their
// caller gave.
func TestRunMetrics(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.reviewAgents(t)
	g.storeWorkflow(t)
	var calls atomic.Int32
	g.agent(t, "flaky", "greet", func(agentCall) (int, string) {
		if calls.Add(1) == 1 {
			return http.StatusServiceUnavailable, `{"error":"warming up"}`
		}
		return 200, `{"output":"hello"}`
	})
	orchestrate := func(body string, want platform.RunStatus) *platform.Run {
		t.Helper()
		resp, b := g.postJSON(t, "/api/v1/orchestrate?wait=1m", body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("orchestrate %s: %d %s", body, resp.StatusCode, b)
		}
		var run platform.Run
		mustUnmarshal(t, b, &run)
		if run.Status != want {
			t.Fatalf("orchestrate %s: %d %s, want %s", body, resp.StatusCode, b, want)
		}
		return &run
	}
	runs := []*platform.Run{
		orchestrate(`{"workflow": "review-pipeline", "parameters": {"repo": "ossa"}}`, platform.RunSucceeded),
		orchestrate(`{"workflow": "review-pipeline", "parameters": {"repo": "broken"}}`, platform.RunFailed),
		orchestrate(`{"workflow": {"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "made-up-name"},
			"spec": {"steps": [{"id": "greet", "kind": "Agent", "capability": "greet",
				"retry": {"max_attempts": 3, "initial_delay_ms": 100}}]}}}`, platform.RunSucceeded),
	}
	want := map[string]float64{
		`ossa_runs_started_total{workflow="review-pipeline"}`:                              2,
		`ossa_runs_started_total{workflow="inline"}`:                                       1,
		`ossa_runs_finished_total{status="succeeded",workflow="review-pipeline"}`:          1,
		`ossa_runs_finished_total{status="failed",workflow="review-pipeline"}`:             1,
		`ossa_runs_finished_total{status="succeeded",workflow="inline"}`:                   1,
		`ossa_run_duration_seconds_count{status="succeeded",workflow="review-pipeline"}`:   1,
		`ossa_run_duration_seconds_count{status="failed",workflow="review-pipeline"}`:      1,
		`ossa_run_duration_seconds_count{status="succeeded",workflow="inline"}`:            1,
		`ossa_run_duration_seconds_bucket{status="succeeded",workflow="inline",le="+Inf"}`: 1,
		`ossa_run_queue_wait_seconds_count{workflow="review-pipeline"}`:                    2,
		`ossa_run_queue_wait_seconds_count{workflow="inline"}`:                             1,
		`ossa_step_retries_total{workflow="inline"}`:                                       1,
		`ossa_runs{status="queued"}`:                                                       0,
		`ossa_runs{status="running"}`:                                                      0,
		`ossa_run_queue_oldest_age_seconds`:                                                0,
	}
	// The steps as the runs recorded them.
	for _, r := range runs {
		wf := r.Workflow
		if r.WorkflowID == "" {
			wf = "inline"
		}
		for _, s := range r.Steps {
			want[`ossa_steps_finished_total{status="`+string(s.Status)+`",workflow="`+wf+`"}`]++
			want[`ossa_step_duration_seconds_count{workflow="`+wf+`"}`]++
		}
	}
	if got := want[`ossa_steps_finished_total{status="succeeded",workflow="review-pipeline"}`]; got != 2 {
		t.Fatalf("the runs of review-pipeline have %v succeeded steps, want 2: %+v %+v", got, runs[0].Steps, runs[1].Steps)
	}
	text := g.awaitSamples(t, want)
	if strings.Contains(text, "made-up-name") {
		t.Errorf("an inline workflow's name is a label:\n%s", strings.Join(series(text, "ossa_run"), "\n"))
	}
	if sum, _ := sample(text, `ossa_run_duration_seconds_sum{status="succeeded",workflow="review-pipeline"}`); sum <= 0 {
		t.Errorf("the succeeded run took %v s", sum)
	}
}

// TestRunQueueMetrics checks the gauges of the runs waiting and running,
// read from the store at each scrape, on a gateway whose queue has no
// workers, so that runs stay queued until the test starts them.
func TestRunQueueMetrics(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Workflows: db, Runs: db, Database: db,
		Orchestrator: ossatest.Engine(db, engine.Config{}), Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	g := &gateway{Server: srv, db: db}
	g.register(t, `{"name":"greeter","type":"worker","capabilities":["greet"],"endpoint":"http://127.0.0.1:1"}`)
	body := `{"workflow": {"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "hello"},
		"spec": {"steps": [{"id": "greet", "kind": "Agent", "capability": "greet"}]}}}`
	var ids []string
	for range 2 {
		resp, b := g.postJSON(t, "/api/v1/orchestrate", body)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
		}
		var acc ohttp.OrchestrateAccepted
		mustUnmarshal(t, b, &acc)
		ids = append(ids, acc.RunID)
	}
	oldest, err := db.FindRun(context.Background(), platform.DefaultNamespace, ids[0])
	if err != nil {
		t.Fatal(err)
	}

	text := g.scrape(t)
	for name, want := range map[string]float64{`ossa_runs{status="queued"}`: 2, `ossa_runs{status="running"}`: 0} {
		if got, ok := sample(text, name); !ok || got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// The age is the oldest run's, at most the time since it was created.
	age, ok := sample(text, `ossa_run_queue_oldest_age_seconds`)
	if limit := time.Since(oldest.CreatedAt).Seconds(); !ok || age <= 0 || age > limit {
		t.Errorf("ossa_run_queue_oldest_age_seconds = %v (present %v), want more than 0 and at most %v", age, ok, limit)
	}

	// Started, the runs are running, and none is waiting.
	for _, id := range ids {
		if _, err := db.AcquireRun(context.Background(), id, "test", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	text = g.scrape(t)
	for name, want := range map[string]float64{
		`ossa_runs{status="queued"}`: 0, `ossa_runs{status="running"}`: 2, `ossa_run_queue_oldest_age_seconds`: 0,
	} {
		if got, ok := sample(text, name); !ok || got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
