package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
)

// agentIn starts a real agent answering {"output": {"from": label}} and
// registers it as name in namespace ns; calls counts what it was called.
func (e *env) agentIn(ns, name, label string, calls *atomic.Int64) *httptest.Server {
	e.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"output":{"from":%q}}`, label)
	}))
	e.t.Cleanup(srv.Close)
	a := &platform.Agent{Namespace: ns, Name: name, Type: platform.AgentWorker, Capabilities: []string{"echo"}, Endpoint: srv.URL}
	a.Normalize()
	if err := e.db.CreateAgent(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return srv
}

func TestRunsKeepTheirNamespace(t *testing.T) { backends(t, testRunsKeepTheirNamespace) }

// testRunsKeepTheirNamespace runs a workflow in team-a while the default
// namespace has agents of the same name and capability: the executor
// chooses team-a's, by name and by capability, from the namespace the run
// was created in, and team-b, which has none, cannot start the run.
func testRunsKeepTheirNamespace(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	var decoy, own atomic.Int64
	e.agentIn(platform.DefaultNamespace, "echo", "default", &decoy)
	e.agentIn("team-a", "echo", "team-a", &own)
	def := json.RawMessage(`{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"wf"},"spec":{"steps":[
		{"id":"byname","ref":"echo"},{"id":"bycap","capability":"echo","depends_on":["byname"]}]}}`)
	ctx := context.Background()
	run, err := e.eng.NewRun(ctx, "team-a", &platform.Workflow{Namespace: "team-a", Name: "wf", Definition: def}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Namespace != "team-a" {
		t.Fatalf("NewRun in team-a made a run of %q", run.Namespace)
	}
	if err := e.db.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := e.db.FindRun(ctx, "team-a", run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Terminal() {
			run = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still %s: %s", r.Status, dump(r))
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := output(t, run)
	for _, step := range []string{"byname", "bycap"} {
		if got := fmt.Sprint(out[step]); got != "map[from:team-a]" {
			t.Errorf("step %s answered %s, want team-a's agent", step, got)
		}
	}
	if decoy.Load() != 0 || own.Load() != 2 {
		t.Errorf("calls: default's agent %d, team-a's %d; want 0 and 2", decoy.Load(), own.Load())
	}

	_, err = e.eng.NewRun(ctx, "team-b", &platform.Workflow{Namespace: "team-b", Name: "wf", Definition: def}, nil, nil)
	var pe *platform.Error
	if !errors.As(err, &pe) || pe.Code != platform.EINVALID || len(pe.Fields) != 2 {
		t.Fatalf("team-b's run of team-a's agents: %v", err)
	}
	if _, err := e.eng.Execute(ctx, "team-b", "echo", platform.ExecuteRequest{}); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("team-b executes team-a's agent: %v", err)
	}
	if x, err := e.eng.Execute(ctx, "team-a", "echo", platform.ExecuteRequest{}); err != nil || string(x.Output) != `{"from":"team-a"}` {
		t.Fatalf("team-a executes its agent: %+v, %v", x, err)
	}
}

func TestHealthProbesEveryNamespace(t *testing.T) { backends(t, testHealthProbesEveryNamespace) }

// testHealthProbesEveryNamespace checks that the probes cover the agents
// of every namespace, not only the default one.
func testHealthProbesEveryNamespace(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{HealthInterval: 100 * time.Millisecond})
	var calls atomic.Int64
	srv := e.agentIn("team-a", "probed", "team-a", &calls)
	check := func(want platform.HealthStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			a, err := e.db.FindAgent(context.Background(), "team-a", "probed")
			if err != nil {
				t.Fatal(err)
			}
			if a.Health.Status == want && a.Health.CheckedAt != nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health = %s, want %s", dump(a.Health), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check(platform.HealthHealthy)
	srv.Close()
	check(platform.HealthUnhealthy)
	if calls.Load() != 0 {
		t.Fatalf("probes called the agent's task endpoint %d time(s)", calls.Load())
	}
}
