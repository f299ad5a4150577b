package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/sqlite"
)

// startClientServer runs a gateway over SQLite in a temp dir and returns a
// client of it.
func startClientServer(t *testing.T) *ohttp.Client {
	t.Helper()
	return ohttp.NewClient(ossatest.Start(t).URL)
}

func wantProblem(t *testing.T, err error, status int, code string) *ohttp.Problem {
	t.Helper()
	var p *ohttp.Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T), want a *Problem", err, err)
	}
	if p.Status != status || p.Code() != code {
		t.Fatalf("problem %d %q, want %d %q: %v", p.Status, p.Code(), status, code, p)
	}
	return p
}

func TestClientAgentLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)

	created, err := c.CreateAgent(ctx, ohttp.AgentInput{
		Name: "summarizer", Type: platform.AgentWorker, Capabilities: []string{"summarize"},
		Endpoint: "http://localhost:9001", Labels: map[string]string{"team": "search"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Namespace != platform.DefaultNamespace || created.Status != platform.AgentActive {
		t.Fatalf("created = %+v", created)
	}

	for _, ref := range []string{created.ID, "summarizer"} {
		got, err := c.GetAgent(ctx, ref)
		if err != nil {
			t.Fatalf("GetAgent(%q): %v", ref, err)
		}
		if got.ID != created.ID || got.Endpoint != "http://localhost:9001" {
			t.Fatalf("GetAgent(%q) = %+v", ref, got)
		}
	}

	replaced, err := c.ReplaceAgent(ctx, "summarizer", ohttp.AgentInput{
		Name: "summarizer", Type: platform.AgentMonitor, Endpoint: "https://example.com/s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if replaced.ID != created.ID || replaced.Type != platform.AgentMonitor || len(replaced.Labels) != 0 || len(replaced.Capabilities) != 0 {
		t.Fatalf("replaced = %+v", replaced)
	}

	patched, err := c.PatchAgent(ctx, created.ID, map[string]any{"status": "inactive", "labels": map[string]any{"tier": "gold"}})
	if err != nil {
		t.Fatal(err)
	}
	if patched.Status != platform.AgentInactive || patched.Labels["tier"] != "gold" || patched.Type != platform.AgentMonitor {
		t.Fatalf("patched = %+v", patched)
	}
	patched, err = c.PatchAgent(ctx, created.ID, json.RawMessage(`{"labels":{"tier":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(patched.Labels) != 0 {
		t.Fatalf("labels after removing tier = %v", patched.Labels)
	}

	if err := c.DeleteAgent(ctx, "summarizer"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetAgent(ctx, created.ID)
	p := wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)
	if p.RequestID == "" || p.Instance != "/api/v1/agents/"+created.ID {
		t.Fatalf("problem = %+v", p)
	}
	wantProblem(t, c.DeleteAgent(ctx, "summarizer"), http.StatusNotFound, platform.ENOTFOUND)
}

func TestClientListAgents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)
	for i, typ := range []platform.AgentType{platform.AgentWorker, platform.AgentWorker, platform.AgentMonitor} {
		_, err := c.CreateAgent(ctx, ohttp.AgentInput{
			Name: fmt.Sprintf("agent-%d", i), Type: typ, Endpoint: "http://localhost:9001",
			Capabilities: []string{"cap-" + string(typ)}, Labels: map[string]string{"n": fmt.Sprint(i), "team": "a"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		query ohttp.AgentQuery
		want  []string
	}{
		{"all", ohttp.AgentQuery{}, []string{"agent-0", "agent-1", "agent-2"}},
		{"type", ohttp.AgentQuery{Type: "worker"}, []string{"agent-0", "agent-1"}},
		{"capability", ohttp.AgentQuery{Capability: "cap-monitor"}, []string{"agent-2"}},
		{"status", ohttp.AgentQuery{Status: "inactive"}, nil},
		{"labels", ohttp.AgentQuery{Labels: map[string]string{"team": "a", "n": "1"}}, []string{"agent-1"}},
	}
	for _, tt := range tests {
		l, err := c.ListAgents(ctx, tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := names(l.Items); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if l.NextCursor != nil {
			t.Errorf("%s: next_cursor = %q on the only page", tt.name, *l.NextCursor)
		}
	}

	var got []string
	q := ohttp.AgentQuery{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		l, err := c.ListAgents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, names(l.Items)...)
		if l.NextCursor == nil {
			break
		}
		q.Cursor = *l.NextCursor
	}
	if want := []string{"agent-0", "agent-1", "agent-2"}; !slices.Equal(got, want) {
		t.Fatalf("paged: got %v, want %v", got, want)
	}

	_, err := c.ListAgents(ctx, ohttp.AgentQuery{Limit: 500})
	p := wantProblem(t, err, http.StatusBadRequest, platform.EBADREQUEST)
	if len(p.Errors) != 1 || p.Errors[0].Field != "limit" {
		t.Fatalf("errors = %+v", p.Errors)
	}
}

func names(agents []*platform.Agent) []string {
	var out []string
	for _, a := range agents {
		out = append(out, a.Name)
	}
	return out
}

func TestClientProblems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)
	in := ohttp.AgentInput{Name: "summarizer", Type: platform.AgentWorker, Endpoint: "http://localhost:9001"}
	if _, err := c.CreateAgent(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateAgent(ctx, in)
	p := wantProblem(t, err, http.StatusConflict, platform.ECONFLICT)
	if !strings.Contains(p.Detail, `"summarizer"`) {
		t.Fatalf("detail = %q", p.Detail)
	}

	_, err = c.CreateAgent(ctx, ohttp.AgentInput{Name: "Bad Name", Type: "robot", Endpoint: "ftp://x"})
	p = wantProblem(t, err, http.StatusUnprocessableEntity, platform.EINVALID)
	var fields []string
	for _, e := range p.Errors {
		fields = append(fields, e.Field)
	}
	if want := []string{"/name", "/type", "/endpoint"}; !slices.Equal(fields, want) {
		t.Fatalf("fields = %v, want %v", fields, want)
	}

	if _, err := c.PatchAgent(ctx, "summarizer", map[string]any{"nme": "x"}); err == nil {
		t.Fatal("a patch with an unknown member succeeded")
	} else {
		wantProblem(t, err, http.StatusBadRequest, platform.EBADREQUEST)
	}
	if _, err := c.PatchAgent(ctx, "summarizer", func() {}); err == nil || errors.As(err, new(*ohttp.Problem)) {
		t.Fatalf("a patch that cannot be encoded: %v", err)
	}
}

// TestClientNonProblemError checks that an error body that is not a problem,
// such as a proxy's, still becomes a *Problem with its status and text.
func TestClientNonProblemError(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 1000)
	userAgents := make(chan string, 3)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		userAgents <- r.Header.Get("User-Agent")
		w.Header().Set("X-Request-ID", "proxy-1")
		switch r.URL.Path {
		case "/health":
			http.Error(w, "no such upstream", http.StatusNotImplemented)
		case "/api/v1/agents/long":
			http.Error(w, long, http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "<h1>Not Found</h1>")
		}
	}))
	t.Cleanup(ts.Close)
	c := ohttp.NewClient(ts.URL + "/")
	ctx := context.Background()

	_, err := c.Health(ctx)
	// 501 is a status the gateway never answers: no code fits it.
	p := wantProblem(t, err, http.StatusNotImplemented, platform.EINTERNAL)
	if p.Type != "about:blank" || p.Detail != "no such upstream" || p.Title != "Not Implemented" || p.RequestID != "proxy-1" {
		t.Fatalf("problem = %+v", p)
	}
	if got, want := <-userAgents, "ossa-client/"+platform.Version; got != want {
		t.Fatalf("User-Agent = %q, want %q", got, want)
	}

	p = wantProblem(t, c.DeleteAgent(ctx, "x"), http.StatusNotFound, platform.ENOTFOUND)
	if p.Detail != "<h1>Not Found</h1>" || p.Instance != "/api/v1/agents/x" {
		t.Fatalf("problem = %+v", p)
	}

	_, err = c.GetAgent(ctx, "long")
	p = wantProblem(t, err, http.StatusServiceUnavailable, platform.EUNAVAILABLE)
	if len(p.Detail) > 520 || !strings.HasSuffix(p.Detail, "é…") {
		t.Fatalf("detail of %d bytes, ending %q", len(p.Detail), p.Detail[len(p.Detail)-8:])
	}
}

func TestClientHealth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := ossatest.SQLite(t)
	c := ohttp.NewClient(ossatest.Start(t, ossatest.WithStore(db)).Gateway.URL())

	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "healthy" || h.Version != platform.Version || h.Dependencies.Database.Backend != "sqlite" || h.Services["redis"] != "disabled" {
		t.Fatalf("health = %+v", h)
	}

	// A closed database makes the gateway unhealthy: 503 with a Health body,
	// which the client returns without an error.
	db.Close()
	h, err = c.Health(ctx)
	if err != nil {
		t.Fatalf("unhealthy gateway: %v", err)
	}
	if h.Status != "unhealthy" || h.Services["sqlite"] != "down" || h.Dependencies.Database.Status != "down" {
		t.Fatalf("health = %+v", h)
	}
}

func ExampleClient() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ossa-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Database: db, Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Open(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	c := ohttp.NewClient(srv.URL())
	a, err := c.CreateAgent(ctx, ohttp.AgentInput{
		Name:         "summarizer",
		Type:         platform.AgentWorker,
		Capabilities: []string{"summarize"},
		Endpoint:     "http://localhost:9001",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Name, a.Type, a.Status, a.Capabilities)

	a, err = c.PatchAgent(ctx, "summarizer", map[string]any{"status": "inactive"})
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Name, a.Status)

	list, err := c.ListAgents(ctx, ohttp.AgentQuery{Type: "worker"})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(list.Items), "worker(s)")

	_, err = c.CreateAgent(ctx, ohttp.AgentInput{Name: "summarizer", Type: platform.AgentWorker, Endpoint: "http://localhost:9002"})
	var p *ohttp.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Code())
	}
	// Output:
	// summarizer worker active [summarize]
	// summarizer inactive
	// 1 worker(s)
	// 409 conflict
}

func TestClientRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)
	endpoint := agentServer(t, func(call agentCall) (int, string) {
		if string(call.Input) == `{"fail":true}` {
			return http.StatusBadRequest, `{"error":"told to fail"}`
		}
		return 200, `{"output":{"got":` + string(call.Input) + `}}`
	})
	if _, err := c.CreateAgent(ctx, ohttp.AgentInput{Name: "echo", Type: platform.AgentWorker, Capabilities: []string{"echo"}, Endpoint: endpoint}); err != nil {
		t.Fatal(err)
	}
	workflow := map[string]any{"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": map[string]any{"name": "echo-twice"},
		"spec": map[string]any{"steps": []any{
			map[string]any{"id": "one", "kind": "Agent", "ref": "echo", "input": map[string]any{"n": "${{ workflow.input.n }}"}},
			map[string]any{"id": "two", "kind": "Agent", "capability": "echo", "depends_on": []string{"one"},
				"input": map[string]any{"prev": "${{ steps.one.output.got.n }}"}},
		}}}

	run, err := c.Orchestrate(ctx, ohttp.OrchestrateRequest{Workflow: workflow, Parameters: map[string]any{"n": 7}}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != platform.RunSucceeded || string(run.Output) != `{"one":{"got":{"n":7}},"two":{"got":{"prev":7}}}` || len(run.Steps) != 2 {
		t.Fatalf("run = %+v, output %s", run, run.Output)
	}

	queued, err := c.Orchestrate(ctx, ohttp.OrchestrateRequest{Workflow: workflow, Agents: []string{"echo"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if queued.ID == "" || queued.Status != platform.RunQueued {
		t.Fatalf("queued = %+v", queued)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !queued.Status.Terminal() {
		if time.Now().After(deadline) {
			t.Fatalf("run %s never finished: %+v", queued.ID, queued)
		}
		time.Sleep(20 * time.Millisecond)
		if queued, err = c.GetRun(ctx, queued.ID); err != nil {
			t.Fatal(err)
		}
	}
	if queued.Status != platform.RunSucceeded || !slices.Equal(queued.Agents, []string{"echo"}) {
		t.Fatalf("second run = %+v", queued)
	}

	// Cancelling a finished run leaves it as it was.
	cancelled, err := c.CancelRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cancelled.Status != platform.RunSucceeded || cancelled.CancelRequested {
		t.Fatalf("cancelled = %+v", cancelled)
	}

	l, err := c.ListRuns(ctx, ohttp.RunQuery{Status: platform.RunSucceeded, Workflow: "echo-twice", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].ID != queued.ID || l.NextCursor == nil {
		t.Fatalf("first page = %+v", l)
	}
	l, err = c.ListRuns(ctx, ohttp.RunQuery{Status: platform.RunSucceeded, Workflow: "echo-twice", Limit: 1, Cursor: *l.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].ID != run.ID || l.NextCursor != nil {
		t.Fatalf("second page = %+v", l)
	}

	_, err = c.ListRuns(ctx, ohttp.RunQuery{Status: "done"})
	p := wantProblem(t, err, http.StatusBadRequest, platform.EBADREQUEST)
	if len(p.Errors) != 1 || p.Errors[0].Field != "status" {
		t.Fatalf("errors = %+v", p.Errors)
	}
	_, err = c.GetRun(ctx, "01936f3a-2b4c-7d5e-8f60-718293a4b5c6")
	wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)
	_, err = c.CancelRun(ctx, "01936f3a-2b4c-7d5e-8f60-718293a4b5c6")
	wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)
	_, err = c.Orchestrate(ctx, ohttp.OrchestrateRequest{Workflow: "ghost"}, 0)
	p = wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)
	if p.Detail != `workflow "ghost" not found` {
		t.Fatalf("detail = %q", p.Detail)
	}
	_, err = c.Orchestrate(ctx, ohttp.OrchestrateRequest{Workflow: workflow, Parameters: []int{1}}, time.Second)
	p = wantProblem(t, err, http.StatusUnprocessableEntity, platform.EINVALID)
	if len(p.Errors) != 1 || p.Errors[0].Field != "/parameters" {
		t.Fatalf("errors = %+v", p.Errors)
	}
}

func TestClientExecute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)
	for name, answer := range map[string]func(agentCall) (int, string){
		"echo":   func(call agentCall) (int, string) { return 200, `{"output":` + string(call.Input) + `}` },
		"broken": func(agentCall) (int, string) { return 503, `{"error":"down"}` },
	} {
		_, err := c.CreateAgent(ctx, ohttp.AgentInput{Name: name, Type: platform.AgentWorker, Capabilities: []string{"echo"},
			Endpoint: agentServer(t, answer)})
		if err != nil {
			t.Fatal(err)
		}
	}
	ex, err := c.Execute(ctx, "echo", platform.ExecuteRequest{Capability: "echo", Input: json.RawMessage(`{"text":"hi"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Agent != "echo" || ex.Status != "succeeded" || ex.TaskID == "" || string(ex.Output) != `{"text":"hi"}` {
		t.Fatalf("execution = %+v, output %s", ex, ex.Output)
	}
	ex, err = c.Execute(ctx, "echo", platform.ExecuteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if string(ex.Output) != "null" {
		t.Fatalf("output without input = %s", ex.Output)
	}

	_, err = c.Execute(ctx, "ghost", platform.ExecuteRequest{})
	wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)
	_, err = c.Execute(ctx, "echo", platform.ExecuteRequest{Capability: "fly"})
	wantProblem(t, err, http.StatusUnprocessableEntity, platform.EINVALID)
	_, err = c.Execute(ctx, "broken", platform.ExecuteRequest{})
	p := wantProblem(t, err, http.StatusBadGateway, platform.EBADGATEWAY)
	if !strings.Contains(p.Detail, "broken") {
		t.Fatalf("detail = %q", p.Detail)
	}
}

func ExampleClient_Execute() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ossa-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	eng := engine.New(engine.Config{Agents: db, Workflows: db, Runs: db, Invoker: invoke.New(), HealthInterval: -1})
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Workflows: db, Runs: db, Orchestrator: eng, Database: db,
		Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Open(); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	// An agent that summarizes anything as "Short.".
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"output":{"summary":"Short."}}`)
	}))
	defer agent.Close()

	c := ohttp.NewClient(srv.URL())
	_, err = c.CreateAgent(ctx, ohttp.AgentInput{Name: "summarizer", Type: platform.AgentWorker,
		Capabilities: []string{"summarize"}, Endpoint: agent.URL})
	if err != nil {
		panic(err)
	}
	ex, err := c.Execute(ctx, "summarizer", platform.ExecuteRequest{Capability: "summarize", Input: json.RawMessage(`{"text":"A long text."}`)})
	if err != nil {
		panic(err)
	}
	fmt.Println(ex.Agent, ex.Status, string(ex.Output))

	_, err = c.Execute(ctx, "summarizer", platform.ExecuteRequest{Capability: "translate"})
	var p *ohttp.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Code())
	}
	// Output:
	// summarizer succeeded {"summary":"Short."}
	// 422 invalid
}
