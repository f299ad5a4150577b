package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/queue"
)

// env is an engine over a real SQLite or PostgreSQL store, executing runs through the
// store's real queue, calling real HTTP agents.
type env struct {
	t   *testing.T
	db  ossatest.Store
	eng *engine.Engine
}

// backends runs test once on each store: the engine's behaviour must not
// depend on the database.
func backends(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

func newEnv(t *testing.T, backend string, cfg engine.Config) *env {
	t.Helper()
	var db ossatest.Store
	switch backend {
	case "sqlite":
		db = ossatest.SQLite(t)
	case "postgres":
		url, schema, _ := testenv.PostgresSchema(t)
		pg, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pg.Close)
		db = pg
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = 5 * time.Second
	}
	eng := ossatest.Engine(db, cfg)
	if err := db.StartQueue(context.Background(), queue.Config{Executor: eng, Workers: 20, ReapEvery: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	eng.Start()
	t.Cleanup(func() { eng.Close() })
	return &env{t: t, db: db, eng: eng}
}

// agentFunc answers one call: the decoded request body and its headers.
type agentFunc func(call agentCall) (status int, body string)

type agentCall struct {
	TaskID     string          `json:"task_id"`
	RunID      string          `json:"run_id"`
	Step       string          `json:"step"`
	Capability string          `json:"capability"`
	Input      json.RawMessage `json:"input"`
	Context    map[string]any  `json:"context"`
	Header     http.Header     `json:"-"`
}

// agent starts a real agent and registers it under name.
func (e *env) agent(name string, caps []string, f agentFunc) *httptest.Server {
	e.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/health" {
			return
		}
		var c agentCall
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		c.Header = r.Header
		status, body := f(c)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	e.t.Cleanup(srv.Close)
	a := &platform.Agent{Name: name, Type: platform.AgentWorker, Capabilities: caps, Endpoint: srv.URL}
	a.Normalize()
	if err := e.db.CreateAgent(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return srv
}

// echo answers {"output": {"from": name, "input": <input>}}.
func echo(name string) agentFunc {
	return func(c agentCall) (int, string) {
		return 200, fmt.Sprintf(`{"output":{"from":%q,"input":%s}}`, name, c.Input)
	}
}

// submit checks and stores a run of the workflow (spec as JSON) and
// returns its ID, or the error of NewRun.
func (e *env) submit(spec string, agents []string, params string) (string, error) {
	e.t.Helper()
	def := fmt.Sprintf(`{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"wf"},"spec":%s}`, spec)
	if !json.Valid([]byte(def)) {
		e.t.Fatalf("test workflow is not JSON: %s", def)
	}
	run, err := e.eng.NewRun(context.Background(), platform.DefaultNamespace,
		&platform.Workflow{Name: "wf", Definition: json.RawMessage(def)}, agents, json.RawMessage(params))
	if err != nil {
		return "", err
	}
	if err := e.db.CreateRun(context.Background(), run); err != nil {
		e.t.Fatal(err)
	}
	return run.ID, nil
}

// run submits and waits for the end.
func (e *env) run(spec, params string) *platform.Run {
	e.t.Helper()
	id, err := e.submit(spec, nil, params)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.wait(id, 20*time.Second)
}

func (e *env) wait(id string, timeout time.Duration) *platform.Run {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := e.db.FindRun(context.Background(), platform.DefaultNamespace, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Status.Terminal() {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run still %s after %s: %s", r.Status, timeout, dump(r))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func output(t *testing.T, r *platform.Run) map[string]any {
	t.Helper()
	if r.Status != platform.RunSucceeded {
		t.Fatalf("run %s: %s", r.Status, dump(r))
	}
	var out map[string]any
	if err := json.Unmarshal(r.Output, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSequenceAndExpressions(t *testing.T) { backends(t, testSequenceAndExpressions) }

func testSequenceAndExpressions(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	var mu sync.Mutex
	var calls []agentCall
	e.agent("upper", []string{"upper"}, func(c agentCall) (int, string) {
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		var in struct{ Text string }
		json.Unmarshal(c.Input, &in)
		return 200, fmt.Sprintf(`{"output":{"text":%q}}`, strings.ToUpper(in.Text))
	})
	r := e.run(`{
	  "inputs": {"type":"object","required":["text"],"properties":{"text":{"type":"string"}}},
	  "context": {"variables": {"suffix": "!"}},
	  "steps": [
	    {"id":"a","kind":"Agent","ref":"upper","input":{"text":"${{ workflow.input.text }}"}},
	    {"id":"b","kind":"Agent","capability":"upper","depends_on":["a"],
	     "input":{"text":"${{ steps.a.output.text }} and ${{ context.variables.suffix }}"}}
	  ]}`, `{"text":"hi"}`)
	out := output(t, r)
	if got := out["b"].(map[string]any)["text"]; got != "HI AND !" {
		t.Errorf("b.text = %v", got)
	}
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[1]
	if c.RunID != r.ID || c.Step != "b" || c.Capability != "upper" || c.TaskID == "" {
		t.Errorf("call = %+v", c)
	}
	if got, want := c.Header.Get("Idempotency-Key"), r.ID+"/b"; got != want {
		t.Errorf("Idempotency-Key = %q, want %q", got, want)
	}
	if tp := c.Header.Get("traceparent"); !strings.HasPrefix(tp, "00-"+strings.ReplaceAll(r.ID, "-", "")+"-") {
		t.Errorf("traceparent = %q", tp)
	}
	if c.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID")
	}
	for _, s := range r.Steps {
		if s.Status != platform.StepSucceeded || s.Agent != "upper" || s.Attempts != 1 || s.StartedAt == nil || s.FinishedAt == nil {
			t.Errorf("step %s", dump(s))
		}
	}
}

func TestIndependentStepsRunConcurrently(t *testing.T) {
	backends(t, testIndependentStepsRunConcurrently)
}

func testIndependentStepsRunConcurrently(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	var inFlight, peak atomic.Int32
	e.agent("slow", []string{"work"}, func(c agentCall) (int, string) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		// The five independent steps each wait (up to 5 s) until all five
		// overlap, so a slow machine cannot make them look sequential;
		// the join then answers at once.
		for deadline := time.Now().Add(5 * time.Second); peak.Load() < 5 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		inFlight.Add(-1)
		return 200, `{"ok":true}`
	})
	var steps []string
	for i := range 5 {
		steps = append(steps, fmt.Sprintf(`{"id":"s%d","ref":"slow"}`, i))
	}
	steps = append(steps, `{"id":"join","ref":"slow","depends_on":["s0","s1","s2","s3","s4"]}`)
	r := e.run(`{"steps":[`+strings.Join(steps, ",")+`]}`, `{}`)
	out := output(t, r)
	if peak.Load() != 5 {
		t.Errorf("peak concurrency %d, want 5", peak.Load())
	}
	if out["join"].(map[string]any)["ok"] != true {
		t.Errorf("output %v: the whole body is the output when it has no output member", out)
	}
	join := r.Step("join")
	for i := range 5 {
		if s := r.Step(fmt.Sprintf("s%d", i)); s.FinishedAt.After(*join.StartedAt) {
			t.Errorf("join started before s%d finished", i)
		}
	}
}

func TestParallelConditionalLoop(t *testing.T) { backends(t, testParallelConditionalLoop) }

func testParallelConditionalLoop(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	e.agent("echo", []string{"echo"}, echo("echo"))
	var inFlight, peak atomic.Int32
	e.agent("score", []string{"score"}, func(c agentCall) (int, string) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		// Until two calls have overlapped, each waits for the other (up to
		// 5 s), so a slow machine cannot make parallel iterations look
		// sequential; after that, calls answer at once.
		for deadline := time.Now().Add(5 * time.Second); peak.Load() < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		inFlight.Add(-1)
		var in struct{ Item float64 }
		json.Unmarshal(c.Input, &in)
		return 200, fmt.Sprintf(`{"output":%v}`, in.Item*2)
	})
	r := e.run(`{"steps":[
	  {"id":"fan","kind":"Parallel","parallel":[
	    {"id":"x","ref":"echo","input":{"v":1}},
	    {"id":"y","ref":"echo","input":{"v":2}}]},
	  {"id":"each","kind":"Loop","loop":{"over":"${{ workflow.input.items }}","parallelism":2},
	   "steps":[{"id":"s","ref":"score","input":{"item":"${{ loop.item }}","i":"${{ loop.index }}"}}]},
	  {"id":"pick","kind":"Conditional","depends_on":["each"],"branches":[
	    {"condition":"${{ steps.each.output[0] > 100 }}","steps":[{"id":"big","ref":"echo"}]},
	    {"condition":"steps.each.output[0] == 2","steps":[{"id":"small","ref":"echo","input":{"n":"${{ length(steps.each.output) }}"}}]}],
	   "else":[{"id":"none","ref":"echo"}]},
	  {"id":"never","ref":"echo","condition":"${{ workflow.input.flag }}"},
	  {"id":"after","ref":"echo","input":{"skipped":"${{ steps.never.status }}"}}
	]}`, `{"items":[1,2,3,4,5]}`)
	out := output(t, r)
	fan := out["fan"].(map[string]any)
	if fan["x"].(map[string]any)["input"].(map[string]any)["v"] != 1.0 {
		t.Errorf("fan = %v", fan)
	}
	if got := fmt.Sprint(out["each"]); got != "[2 4 6 8 10]" {
		t.Errorf("each = %s", got)
	}
	if peak.Load() != 2 {
		t.Errorf("loop peak concurrency %d, want 2 (parallelism)", peak.Load())
	}
	pick := out["pick"].(map[string]any)
	if _, ok := pick["small"]; !ok || len(pick) != 1 {
		t.Errorf("pick = %v, want only small", pick)
	}
	if n := pick["small"].(map[string]any)["input"].(map[string]any)["n"]; n != 5.0 {
		t.Errorf("length = %v", n)
	}
	if s := r.Step("never"); s == nil || s.Status != platform.StepSkipped {
		t.Errorf("never = %s", dump(s))
	}
	if got := out["after"].(map[string]any)["input"].(map[string]any)["skipped"]; got != "skipped" {
		t.Errorf("after saw %v", got)
	}
	for _, id := range []string{"fan/x", "fan/y", "each[0]/s", "each[4]/s", "pick/1/small", "each"} {
		if s := r.Step(id); s == nil || s.Status != platform.StepSucceeded {
			t.Errorf("step %s = %s", id, dump(s))
		}
	}
}

func TestRetries(t *testing.T) { backends(t, testRetries) }

func testRetries(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	var n atomic.Int32
	keys := make(chan string, 10)
	e.agent("flaky", nil, func(c agentCall) (int, string) {
		keys <- c.Header.Get("Idempotency-Key")
		if n.Add(1) < 3 {
			return 503, `{"error":"busy"}`
		}
		return 200, `{"output":"ok"}`
	})
	e.agent("refuses", nil, func(c agentCall) (int, string) {
		return 422, `{"detail":"no such repository"}`
	})
	r := e.run(`{"steps":[{"id":"f","ref":"flaky","retry":{"max_attempts":3,"backoff_strategy":"fixed","initial_delay_ms":10}}]}`, `{}`)
	output(t, r)
	if s := r.Step("f"); s.Attempts != 3 {
		t.Errorf("attempts = %d", s.Attempts)
	}
	close(keys)
	first := <-keys
	for k := range keys {
		if k != first {
			t.Errorf("Idempotency-Key changed between attempts: %q, %q", first, k)
		}
	}
	r = e.run(`{"steps":[{"id":"r","ref":"refuses","retry":{"max_attempts":5,"initial_delay_ms":10}}]}`, `{}`)
	s := r.Step("r")
	if r.Status != platform.RunFailed || s.Attempts != 1 || !strings.Contains(s.Error, "no such repository") || !strings.Contains(r.Error, `step "r" failed`) {
		t.Errorf("a 4xx is not retried and fails the run: %s", dump(r))
	}
}

func TestFailureHandling(t *testing.T) { backends(t, testFailureHandling) }

func testFailureHandling(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	e.agent("ok", nil, echo("ok"))
	e.agent("bad", nil, func(agentCall) (int, string) { return 400, `{"error":"bad input"}` })
	e.agent("notjson", nil, func(agentCall) (int, string) { return 200, `<html>` })

	// continue_on_error: the run goes on and dependents run.
	r := e.run(`{"steps":[{"id":"a","ref":"bad","continue_on_error":true},{"id":"b","ref":"ok","depends_on":["a"]}]}`, `{}`)
	out := output(t, r)
	if _, ok := out["b"]; !ok || r.Step("a").Status != platform.StepFailed {
		t.Errorf("continue_on_error: %s", dump(r))
	}
	// on_failure continue: independent steps finish, dependents are skipped,
	// the run fails.
	r = e.run(`{"error_handling":{"on_failure":"continue"},"steps":[
	  {"id":"a","ref":"bad"},{"id":"b","ref":"ok","depends_on":["a"]},{"id":"c","ref":"ok"}]}`, `{}`)
	if r.Status != platform.RunFailed || r.Step("b").Status != platform.StepSkipped || r.Step("c").Status != platform.StepSucceeded {
		t.Errorf("on_failure continue: %s", dump(r))
	}
	// An answer that is not JSON fails the step with a clear error.
	r = e.run(`{"steps":[{"id":"a","ref":"notjson"}]}`, `{}`)
	if r.Status != platform.RunFailed || !strings.Contains(r.Step("a").Error, "not JSON") {
		t.Errorf("not JSON: %s", dump(r))
	}
	// compensate runs the compensation step, and the run still fails.
	r = e.run(`{"steps":[{"id":"a","ref":"bad","on_error":{"action":"compensate","compensation":{"id":"undo","ref":"ok"}}}]}`, `{}`)
	if r.Status != platform.RunFailed || r.Step("a/compensation") == nil || r.Step("a/compensation").Status != platform.StepSucceeded {
		t.Errorf("compensate: %s", dump(r))
	}
}

func TestTimeoutsAndCancel(t *testing.T) { backends(t, testTimeoutsAndCancel) }

func testTimeoutsAndCancel(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	e.agent("sleepy", nil, func(agentCall) (int, string) {
		time.Sleep(3 * time.Second)
		return 200, `{}`
	})
	r := e.run(`{"steps":[{"id":"a","ref":"sleepy","timeout_seconds":0.2,"retry":{"max_attempts":1}}]}`, `{}`)
	if r.Status != platform.RunFailed || !strings.Contains(r.Step("a").Error, "did not answer within") {
		t.Errorf("step timeout: %s", dump(r))
	}
	r = e.run(`{"timeout_seconds":0.5,"steps":[{"id":"a","ref":"sleepy"}]}`, `{}`)
	if r.Status != platform.RunTimedOut || r.Step("a").Status != platform.StepCancelled {
		t.Errorf("run timeout: %s", dump(r))
	}
	id, err := e.submit(`{"steps":[{"id":"a","ref":"sleepy"},{"id":"b","ref":"sleepy","depends_on":["a"]}]}`, nil, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, _ := e.db.FindRun(context.Background(), platform.DefaultNamespace, id)
		if r.Status == platform.RunRunning && len(r.Steps) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if _, err := e.db.CancelRun(context.Background(), platform.DefaultNamespace, id); err != nil {
		t.Fatal(err)
	}
	r = e.wait(id, 10*time.Second)
	if r.Status != platform.RunCancelled || r.Step("a").Status != platform.StepCancelled || r.Step("b") != nil {
		t.Errorf("cancel: %s", dump(r))
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("cancel took %s", d)
	}
}

func TestChoosingAgents(t *testing.T) { backends(t, testChoosingAgents) }

func testChoosingAgents(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	var mu sync.Mutex
	count := map[string]int{}
	handler := func(name string, delay time.Duration) agentFunc {
		return func(agentCall) (int, string) {
			mu.Lock()
			count[name]++
			mu.Unlock()
			time.Sleep(delay)
			return 200, `{}`
		}
	}
	// Ten calls, two at a time, to a fast agent and to one that holds its
	// first call until the fast one has served the nine others: least_conn
	// sends every call after the first two to the agent with nothing in
	// flight, so the held agent gets exactly one.
	nineDone := make(chan struct{})
	var fast atomic.Int32
	e.agent("fast", []string{"sum"}, func(agentCall) (int, string) {
		if fast.Add(1) == 9 {
			close(nineDone)
		}
		return 200, `{"agent":"fast"}`
	})
	var held atomic.Int32
	e.agent("held", []string{"sum"}, func(agentCall) (int, string) {
		held.Add(1)
		select {
		case <-nineDone:
		case <-time.After(10 * time.Second):
		}
		return 200, `{"agent":"held"}`
	})
	output(t, e.run(`{"steps":[{"id":"each","loop":{"over":"${{ workflow.input.items }}","parallelism":2},
	  "steps":[{"id":"s","capability":"sum"}]}]}`, `{"items":[1,2,3,4,5,6,7,8,9,10]}`))
	if fast.Load() != 9 || held.Load() != 1 {
		t.Errorf("least_conn: fast served %d, held %d; want 9 and 1", fast.Load(), held.Load())
	}
	// An unhealthy agent is not chosen while a healthy one has the capability.
	down := e.agent("down", []string{"sum2"}, handler("down", 0))
	e.agent("up", []string{"sum2"}, handler("up", 0))
	down.Close()
	output(t, e.run(`{"steps":[{"id":"a","ref":"down","continue_on_error":true,"retry":{"max_attempts":1}}]}`, `{}`))
	a, _ := e.db.FindAgent(context.Background(), platform.DefaultNamespace, "down")
	if a.Health.Status != platform.HealthUnhealthy || a.Health.Reason == "" {
		t.Fatalf("a failed call marks the agent unhealthy: %s", dump(a.Health))
	}
	for range 5 {
		output(t, e.run(`{"steps":[{"id":"a","capability":"sum2"}]}`, `{}`))
	}
	if count["up"] != 5 {
		t.Errorf("calls: %v", count)
	}
}

func TestHealthProbes(t *testing.T) { backends(t, testHealthProbes) }

func testHealthProbes(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{HealthInterval: 100 * time.Millisecond})
	srv := e.agent("probed", nil, echo("probed"))
	check := func(want platform.HealthStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			a, _ := e.db.FindAgent(context.Background(), platform.DefaultNamespace, "probed")
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
}

func TestNewRunProblems(t *testing.T) { backends(t, testNewRunProblems) }

func testNewRunProblems(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	e.agent("known", []string{"known-cap"}, echo("known"))
	cases := []struct {
		name, spec, params string
		agents             []string
		want               []string // field: message fragments
	}{
		{"parameters against inputs", `{"inputs":{"type":"object","required":["repo"],"properties":{"repo":{"type":"string"},"n":{"type":"integer","maximum":3}}},"steps":[{"id":"a","ref":"known"}]}`,
			`{"n":5}`, nil, []string{"/parameters: missing property 'repo'", "/parameters/n: maximum: got 5, want 3"}},
		{"unknown agent", `{"steps":[{"id":"a","ref":"ghost"},{"id":"b","capability":"nothing"}]}`, `{}`, []string{"nobody"},
			[]string{`/agents/0: agent "nobody" is not registered`, `/workflow/spec/steps/0/ref: agent "ghost" is not registered`, `/workflow/spec/steps/1/capability: none of the run's agents has capability "nothing"`}},
		{"manifest path ref", `{"steps":[{"id":"a","ref":"./agents/known.ossa.yaml"}]}`, `{}`, []string{"known"}, nil},
		{"outside allowed", `{"steps":[{"id":"a","ref":"known"}]}`, `{}`, []string{}, nil},
		{"cycle", `{"steps":[{"id":"a","ref":"known","depends_on":["b"]},{"id":"b","ref":"known","input":{"x":"${{ steps.a.output }}"}}]}`, `{}`, nil,
			[]string{"/workflow/spec/steps/0/depends_on: the steps depend on each other in a cycle: a → b → a"}},
		{"bad expression", `{"steps":[{"id":"a","ref":"known","input":{"x":"${{ steps.( }}"}}]}`, `{}`, nil, []string{"/workflow/spec/steps/0/input"}},
		{"no agent", `{"steps":[{"id":"a","kind":"Agent"}]}`, `{}`, nil, []string{"/workflow/spec/steps/0: an Agent step needs a ref"}},
		{"goto", `{"steps":[{"id":"a","ref":"known","on_error":{"action":"goto"}}]}`, `{}`, nil, []string{`/workflow/spec/steps/0/on_error/action: "goto" is not supported`}},
		{"parameters not an object", `{"steps":[{"id":"a","ref":"known"}]}`, `[1]`, nil, []string{"/parameters"}},
	}
	for _, c := range cases {
		_, err := e.submit(c.spec, c.agents, c.params)
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var pe *platform.Error
		if err == nil || !asError(err, &pe) || pe.Code != platform.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", c.name, err)
			continue
		}
		var got []string
		for _, f := range pe.Fields {
			got = append(got, f.Field+": "+f.Message)
		}
		all := strings.Join(got, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: problems\n%s\nlack %q", c.name, all, w)
			}
		}
	}
	page, err := e.db.ListRuns(context.Background(), platform.RunFilter{Namespace: platform.DefaultNamespace})
	if err != nil || len(page.Items) != 2 {
		t.Errorf("only the two valid runs are stored: %d, %v", len(page.Items), err)
	}
}

func asError(err error, target **platform.Error) bool {
	e, ok := err.(*platform.Error)
	*target = e
	return ok
}

func TestExecute(t *testing.T) { backends(t, testExecute) }

func testExecute(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{StepTimeout: 300 * time.Millisecond})
	e.agent("adder", []string{"add"}, func(c agentCall) (int, string) {
		var in struct{ A, B float64 }
		json.Unmarshal(c.Input, &in)
		return 200, fmt.Sprintf(`{"output":{"sum":%v}}`, in.A+in.B)
	})
	e.agent("broken", nil, func(agentCall) (int, string) { return 500, `{"error":"boom"}` })
	e.agent("sleepy", nil, func(agentCall) (int, string) { time.Sleep(time.Second); return 200, `{}` })
	ctx := context.Background()
	x, err := e.eng.Execute(ctx, platform.DefaultNamespace, "adder", platform.ExecuteRequest{Capability: "add", Input: json.RawMessage(`{"a":2,"b":3}`)})
	if err != nil || x.Status != "succeeded" || string(x.Output) != `{"sum":5}` || x.TaskID == "" || x.Agent != "adder" {
		t.Fatalf("execute = %+v, %v", x, err)
	}
	for _, c := range []struct {
		ref, capability, code string
	}{
		{"ghost", "", platform.ENOTFOUND},
		{"adder", "multiply", platform.EINVALID},
		{"broken", "", platform.EBADGATEWAY},
		{"sleepy", "", platform.ETIMEOUT},
	} {
		_, err := e.eng.Execute(ctx, platform.DefaultNamespace, c.ref, platform.ExecuteRequest{Capability: c.capability})
		if platform.ErrorCode(err) != c.code {
			t.Errorf("execute %s %s: %v, want %s", c.ref, c.capability, err, c.code)
		}
	}
}
