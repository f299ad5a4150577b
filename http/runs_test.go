package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// agentCall is what the gateway sends an http agent.
type agentCall struct {
	TaskID     string          `json:"task_id"`
	RunID      string          `json:"run_id"`
	Step       string          `json:"step"`
	Capability string          `json:"capability"`
	Input      json.RawMessage `json:"input"`
}

// agent runs an http agent that answers each call with what answer
// returns, registers it under name with the capability, and returns it.
func (g *gateway) agent(t *testing.T, name, capability string, answer func(agentCall) (int, string)) *platform.Agent {
	t.Helper()
	url := agentServer(t, answer)
	return g.register(t, fmt.Sprintf(`{"name":%q,"type":"worker","capabilities":[%q],"endpoint":%q}`, name, capability, url))
}

// agentServer runs an http agent that answers each call with what answer
// returns, and returns its URL.
func agentServer(t *testing.T, answer func(agentCall) (int, string)) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			fmt.Fprint(w, `{"status":"ok"}`)
			return
		}
		var call agentCall
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status, body := answer(call)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// reviewAgents registers the two agents testdata/workflow.yaml calls:
// fetcher answers a diff of the repo, code-reviewer a verdict on the diff.
func (g *gateway) reviewAgents(t *testing.T) {
	t.Helper()
	g.agent(t, "fetcher", "fetch-diff", func(c agentCall) (int, string) {
		var in struct{ Repo string }
		_ = json.Unmarshal(c.Input, &in)
		if in.Repo == "broken" {
			return http.StatusBadRequest, `{"error":"no such repo"}`
		}
		return 200, fmt.Sprintf(`{"output":{"diff":"diff of %s"}}`, in.Repo)
	})
	g.agent(t, "code-reviewer", "code-review", func(c agentCall) (int, string) {
		var in struct{ Diff string }
		_ = json.Unmarshal(c.Input, &in)
		return 200, fmt.Sprintf(`{"verdict":"approve","seen":%q}`, in.Diff)
	})
}

// storeWorkflow stores testdata/workflow.yaml (review-pipeline).
func (g *gateway) storeWorkflow(t *testing.T) *platform.Workflow {
	t.Helper()
	resp, b := g.do(t, "POST", "/api/v1/workflows", "application/yaml", readTestdata(t, "workflow.yaml"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("store workflow: %d %s", resp.StatusCode, b)
	}
	var wf platform.Workflow
	mustUnmarshal(t, b, &wf)
	return &wf
}

// runs is every stored run, read straight from the store.
func (g *gateway) runs(t *testing.T) []*platform.Run {
	t.Helper()
	page, err := g.db.ListRuns(context.Background(), platform.RunFilter{Namespace: platform.DefaultNamespace, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// awaitRun polls the run through the API until check accepts it.
func (g *gateway) awaitRun(t *testing.T, id string, check func(*platform.Run) bool) *platform.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, b := g.do(t, "GET", "/api/v1/runs/"+id, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("get run: %d %s", resp.StatusCode, b)
		}
		var run platform.Run
		mustUnmarshal(t, b, &run)
		if check(&run) {
			return &run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run never got there: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOrchestrateStoredWorkflowAndWait(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.reviewAgents(t)
	wf := g.storeWorkflow(t)

	resp, b := g.postJSON(t, "/api/v1/orchestrate?wait=30s", `{"workflow":"review-pipeline","parameters":{"repo":"ossa/platform"}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
	}
	var run platform.Run
	mustUnmarshal(t, b, &run)
	if resp.Header.Get("Location") != "/api/v1/runs/"+run.ID {
		t.Fatalf("Location = %q", resp.Header.Get("Location"))
	}
	if run.Status != platform.RunSucceeded || run.Workflow != "review-pipeline" || run.WorkflowID != wf.ID ||
		run.FinishedAt == nil || len(run.Steps) != 2 {
		t.Fatalf("run: %s", b)
	}
	var out struct {
		Fetch  struct{ Diff string }
		Review struct{ Verdict, Seen string }
	}
	mustUnmarshal(t, run.Output, &out)
	if out.Fetch.Diff != "diff of ossa/platform" || out.Review.Verdict != "approve" || out.Review.Seen != "diff of ossa/platform" {
		t.Fatalf("output: %s", run.Output)
	}
	for _, s := range run.Steps {
		if s.Status != platform.StepSucceeded || s.Attempts != 1 || s.Agent == "" {
			t.Fatalf("step %s: %s", s.ID, b)
		}
	}

	// The stored run is what the wait answered, and the workflow's ID
	// names the same workflow as its name.
	resp, got := g.do(t, "GET", "/api/v1/runs/"+run.ID, "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"status":"succeeded"`) || !strings.Contains(string(got), `"steps":[{`) {
		t.Fatalf("get: %d %s", resp.StatusCode, got)
	}
	resp, b = g.postJSON(t, "/api/v1/orchestrate?wait=30s", `{"workflow":"`+wf.ID+`","parameters":{"repo":"x"}}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"status":"succeeded"`) {
		t.Fatalf("by ID: %d %s", resp.StatusCode, b)
	}

	// A step whose agent fails for good fails the run, still a 200: the
	// run is over.
	resp, b = g.postJSON(t, "/api/v1/orchestrate?wait=30s", `{"workflow":"review-pipeline","parameters":{"repo":"broken"}}`)
	mustUnmarshal(t, b, &run)
	if resp.StatusCode != http.StatusOK || run.Status != platform.RunFailed || run.Error == "" || run.Step("fetch").Status != platform.StepFailed {
		t.Fatalf("failing run: %d %s", resp.StatusCode, b)
	}
}

func TestOrchestrateInlineWorkflow(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.agent(t, "greeter", "greet", func(c agentCall) (int, string) {
		var in struct{ Name string }
		_ = json.Unmarshal(c.Input, &in)
		return 200, fmt.Sprintf(`{"output":"hello, %s"}`, in.Name)
	})
	body := `{"workflow": {"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "hello"},
		"spec": {"inputs": {"type": "object", "properties": {"name": {"type": "string"}}},
		"steps": [{"id": "greet", "kind": "Agent", "capability": "greet", "input": {"name": "${{ workflow.input.name }}"}}]}},
		"agents": ["greeter"], "parameters": {"name": "Ada"}}`

	// Without a wait the answer is at once: the run is queued, with links.
	resp, b := g.postJSON(t, "/api/v1/orchestrate", body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
	}
	var acc ohttp.OrchestrateAccepted
	mustUnmarshal(t, b, &acc)
	self := "/api/v1/runs/" + acc.RunID
	if acc.RunID == "" || acc.Status != platform.RunQueued || resp.Header.Get("Location") != self ||
		acc.Links != (ohttp.RunLinks{Self: self, Cancel: self + "/cancel", Events: self + "/events"}) {
		t.Fatalf("accepted: %s", b)
	}
	run := g.awaitRun(t, acc.RunID, func(r *platform.Run) bool { return r.Status.Terminal() })
	if run.Status != platform.RunSucceeded || string(run.Output) != `{"greet":"hello, Ada"}` || run.Workflow != "hello" ||
		run.WorkflowID != "" || !slices.Equal(run.Agents, []string{"greeter"}) || run.Step("greet").Agent != "greeter" {
		t.Fatalf("run: %+v, output %s", run, run.Output)
	}

	// An inline workflow is never stored.
	resp, b = g.do(t, "GET", "/api/v1/workflows/hello", "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
}

// TestOrchestrateBadInput sends every kind of bad orchestrate request and
// checks the problem and that no run was stored.
func TestOrchestrateBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.storeWorkflow(t)
	g.agent(t, "fetcher", "fetch-diff", func(agentCall) (int, string) { return 200, `{}` })

	inline := func(steps string) string {
		return `{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"inline"},"spec":{"steps":` + steps + `}}}`
	}
	big := `{"workflow":"review-pipeline","parameters":{"x":"` + strings.Repeat("x", 1<<20) + `"}}`
	tests := []struct {
		name, query, contentType, body string
		status                         int
		fields                         []string // fields the problem must name
		detail                         string   // text the detail must contain
	}{
		{"malformed", "", "application/json", "{\n  \"workflow\": \"review-pipeline\",\n  \"parameters\" {}\n}", 400, []string{"body"}, "line 3, column 16"},
		{"truncated", "", "application/json", `{"workflow":`, 400, []string{"body"}, "ends early"},
		{"empty", "", "application/json", ``, 400, nil, "empty"},
		{"not an object", "", "application/json", `["review-pipeline"]`, 400, nil, "JSON object"},
		{"unknown members", "", "application/json", `{"workflow":"review-pipeline","colour":"red","size":3}`, 400,
			[]string{"/colour", "/size"}, "colour, size"},
		{"wrong media type", "", "text/plain", `{"workflow":"review-pipeline"}`, 415, []string{"Content-Type"}, "application/json"},
		{"too large", "", "application/json", big, 413, nil, "limit"},
		{"wait not a duration", "?wait=forever", "application/json", `{"workflow":"review-pipeline"}`, 400, []string{"wait"}, "query"},
		{"wait too long", "?wait=10m", "application/json", `{"workflow":"review-pipeline"}`, 400, []string{"wait"}, "query"},
		{"wait negative", "?wait=-1s", "application/json", `{"workflow":"review-pipeline"}`, 400, []string{"wait"}, "query"},
		{"unknown query parameter", "?timeout=1s", "application/json", `{"workflow":"review-pipeline"}`, 400, []string{"timeout"}, "query"},
		{"no workflow", "", "application/json", `{"parameters":{}}`, 422, []string{"/workflow"}, "not valid"},
		{"empty workflow", "", "application/json", `{"workflow":""}`, 422, []string{"/workflow"}, "not valid"},
		{"workflow of a wrong type", "", "application/json", `{"workflow":7}`, 422, []string{"/workflow"}, "not valid"},
		{"wrong types", "", "application/json", `{"workflow":"review-pipeline","agents":["fetcher",2,""],"parameters":[1]}`, 422,
			[]string{"/agents/1", "/agents/2", "/parameters"}, "not valid"},
		{"unknown stored workflow", "", "application/json", `{"workflow":"ghost"}`, 404, nil, `workflow "ghost" not found`},
		{"invalid inline manifest", "", "application/json", inline(`[{"id":"a","kind":"Agent","ref":"fetcher"},{"id":"a","kind":"Teleport","ref":"fetcher"}]`),
			422, []string{"/workflow/spec/steps/1/kind"}, "Workflow manifest is not valid"},
		{"inline manifest with a cycle", "", "application/json",
			inline(`[{"id":"a","kind":"Agent","ref":"fetcher","depends_on":["b"]},{"id":"b","kind":"Agent","ref":"fetcher","depends_on":["a"]}]`),
			422, nil, "Workflow manifest is not valid"},
		{"inline manifest of another kind", "", "application/json",
			`{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Agent","metadata":{"name":"x"}}}`, 422, []string{"/workflow/kind"}, "not valid"},
		{"inline manifest and other problems", "", "application/json",
			`{"workflow":{"apiVersion":"ossa/v9","kind":"Workflow"},"parameters":"x"}`, 422, []string{"/workflow/apiVersion", "/parameters"}, "not valid"},
		{"parameters against the inputs", "", "application/json", `{"workflow":"review-pipeline","parameters":{"repo":7}}`, 422,
			[]string{"/parameters/repo"}, ""},
		{"unregistered agent", "", "application/json", `{"workflow":"review-pipeline","agents":["ghost"],"parameters":{"repo":"r"}}`, 422,
			[]string{"/agents/0"}, ""},
		{"step no agent can run", "", "application/json", `{"workflow":"review-pipeline","parameters":{"repo":"r"}}`, 422,
			[]string{"/workflow/spec/steps/1/ref"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := g.do(t, "POST", "/api/v1/orchestrate"+tt.query, tt.contentType, []byte(tt.body))
			p, _ := problemNaming(t, resp, b, tt.status, tt.detail, tt.fields)
			for _, e := range p.Errors {
				if strings.HasPrefix(e.Field, "/workflow/") && strings.HasPrefix(tt.name, "inline") && e.Line == 0 {
					t.Errorf("field %s has no line: %s", e.Field, b)
				}
			}
			if runs := g.runs(t); len(runs) != 0 {
				t.Fatalf("a refused request stored %d run(s)", len(runs))
			}
		})
	}
}

// TestOrchestrateInlineManifestPositions checks that an inline manifest's
// problems are located in the whole request body.
func TestOrchestrateInlineManifestPositions(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	body := "{\n  \"workflow\": {\n    \"apiVersion\": \"ossa/v0.4.6\",\n    \"kind\": \"Workflow\",\n" +
		"    \"metadata\": {\"name\": \"x\"},\n    \"spec\": {\"steps\": [{\"id\": \"a\", \"kind\": \"Teleport\"}]}\n  }\n}"
	resp, b := g.postJSON(t, "/api/v1/orchestrate", body)
	p := problemOf(t, resp, b, http.StatusUnprocessableEntity)
	for _, e := range p.Errors {
		if e.Field == "/workflow/spec/steps/0/kind" {
			if e.Line != 6 {
				t.Fatalf("line %d, want 6: %s", e.Line, b)
			}
			return
		}
	}
	t.Fatalf("no problem with /workflow/spec/steps/0/kind: %s", b)
}

func TestRunListFiltersAndPages(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.reviewAgents(t)
	g.storeWorkflow(t)
	g.agent(t, "greeter", "greet", func(agentCall) (int, string) { return 200, `"hi"` })
	greet := `{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"hello"},
		"spec":{"steps":[{"id":"greet","kind":"Agent","ref":"greeter"}]}}}`

	var ids []string // oldest first
	for _, body := range []string{
		`{"workflow":"review-pipeline","parameters":{"repo":"a"}}`,
		`{"workflow":"review-pipeline","parameters":{"repo":"broken"}}`,
		greet,
		`{"workflow":"review-pipeline","parameters":{"repo":"b"}}`,
		greet,
	} {
		resp, b := g.postJSON(t, "/api/v1/orchestrate?wait=30s", body)
		var run platform.Run
		mustUnmarshal(t, b, &run)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
		}
		ids = append(ids, run.ID)
	}
	list := func(query string) ohttp.RunList {
		t.Helper()
		resp, b := g.do(t, "GET", "/api/v1/runs?"+query, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list %s: %d %s", query, resp.StatusCode, b)
		}
		var l ohttp.RunList
		mustUnmarshal(t, b, &l)
		return l
	}
	idsOf := func(l ohttp.RunList) (out []string) {
		for _, r := range l.Items {
			out = append(out, r.ID)
		}
		return out
	}
	for query, want := range map[string][]string{
		"":               {ids[4], ids[3], ids[2], ids[1], ids[0]},
		"status=failed":  {ids[1]},
		"workflow=hello": {ids[4], ids[2]},
		"workflow=review-pipeline&status=succeeded": {ids[3], ids[0]},
		"status=running": nil,
	} {
		l := list(query)
		if got := idsOf(l); !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", query, got, want)
		}
		if l.NextCursor != nil {
			t.Errorf("%q: next_cursor on the only page", query)
		}
	}

	var all []string
	query := "limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		l := list(query)
		all = append(all, idsOf(l)...)
		if l.NextCursor == nil {
			break
		}
		query = "limit=2&cursor=" + url.QueryEscape(*l.NextCursor)
	}
	if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(all, want) {
		t.Fatalf("paged: got %v, want %v", all, want)
	}
}

// TestRunRoutesBadInput checks the problems of the run routes' bad
// requests, and that they change nothing.
func TestRunRoutesBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	tests := []struct {
		name, method, path string
		status             int
		fields             []string
		detail             string
	}{
		{"bad status", "GET", "/api/v1/runs?status=done", 400, []string{"status"}, "query"},
		{"bad page", "GET", "/api/v1/runs?limit=0&cursor=zz", 400, []string{"limit", "cursor"}, "query"},
		{"unknown parameter", "GET", "/api/v1/runs?after=x", 400, []string{"after"}, "query"},
		{"unknown run", "GET", "/api/v1/runs/01936f3a-2b4c-7d5e-8f60-718293a4b5c6", 404, nil, "not found"},
		{"run ID of another form", "GET", "/api/v1/runs/ghost", 404, nil, "not found"},
		{"cancel unknown run", "POST", "/api/v1/runs/01936f3a-2b4c-7d5e-8f60-718293a4b5c6/cancel", 404, nil, "not found"},
		{"cancel with a query", "POST", "/api/v1/runs/x/cancel?force=1", 400, []string{"force"}, "query"},
		{"delete a run", "DELETE", "/api/v1/runs/x", 405, nil, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := g.do(t, tt.method, tt.path, "application/json", nil)
			problemNaming(t, resp, b, tt.status, tt.detail, tt.fields)
		})
	}
	if runs := g.runs(t); len(runs) != 0 {
		t.Fatalf("%d run(s) stored", len(runs))
	}
}

func TestCancelRun(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	called := make(chan struct{}, 1)
	release := make(chan struct{})
	g.agent(t, "slow", "wait", func(agentCall) (int, string) {
		select {
		case called <- struct{}{}:
		default:
		}
		<-release
		return 200, `"late"`
	})
	t.Cleanup(func() { close(release) }) // before the agent's server closes
	slow := `{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"slow"},
		"spec":{"steps":[{"id":"wait","kind":"Agent","ref":"slow"}]}}}`

	resp, b := g.postJSON(t, "/api/v1/orchestrate", slow)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
	}
	var acc ohttp.OrchestrateAccepted
	mustUnmarshal(t, b, &acc)
	select {
	case <-called:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent was never called")
	}

	// A wait that passes first answers 202 with the run as it is.
	resp, b = g.postJSON(t, "/api/v1/orchestrate?wait=50ms", slow)
	var waited platform.Run
	mustUnmarshal(t, b, &waited)
	if resp.StatusCode != http.StatusAccepted || waited.ID == "" || waited.Status.Terminal() {
		t.Fatalf("wait passed: %d %s", resp.StatusCode, b)
	}

	// A running run is asked to stop: 202, and it is cancelled soon.
	resp, b = g.do(t, "POST", "/api/v1/runs/"+acc.RunID+"/cancel", "application/json", nil)
	var run platform.Run
	mustUnmarshal(t, b, &run)
	if resp.StatusCode != http.StatusAccepted || !run.CancelRequested || run.Status.Terminal() {
		t.Fatalf("cancel running: %d %s", resp.StatusCode, b)
	}
	run = *g.awaitRun(t, acc.RunID, func(r *platform.Run) bool { return r.Status.Terminal() })
	if run.Status != platform.RunCancelled {
		t.Fatalf("after cancel: %+v", run)
	}

	// Cancelling a finished run again changes nothing: 200 with the run.
	resp, b = g.do(t, "POST", "/api/v1/runs/"+acc.RunID+"/cancel", "application/json", nil)
	var again platform.Run
	mustUnmarshal(t, b, &again)
	if resp.StatusCode != http.StatusOK || again.Status != platform.RunCancelled || !again.FinishedAt.Equal(*run.FinishedAt) {
		t.Fatalf("cancel finished: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "POST", "/api/v1/runs/"+waited.ID+"/cancel", "application/json", nil)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel the second run: %d %s", resp.StatusCode, b)
	}
}

// TestOrchestrationNotConfigured checks that a gateway without an engine
// answers its run and execute routes with 503.
func TestOrchestrationNotConfigured(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Workflows: db, Database: db, Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	g := &gateway{Server: srv, db: db}
	for _, req := range []struct{ method, path, body string }{
		{"POST", "/api/v1/orchestrate", `{"workflow":"x"}`},
		{"GET", "/api/v1/runs", ""},
		{"GET", "/api/v1/runs/x", ""},
		{"POST", "/api/v1/runs/x/cancel", ""},
		{"POST", "/api/v1/agents/x/execute", `{}`},
	} {
		resp, b := g.do(t, req.method, req.path, "application/json", []byte(req.body))
		p := problemOf(t, resp, b, http.StatusServiceUnavailable)
		if p.Detail != "orchestration is not configured" {
			t.Errorf("%s %s: %s", req.method, req.path, b)
		}
	}
}
