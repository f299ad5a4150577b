package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

func TestExecute(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	calls := make(chan agentCall, 2)
	a := g.agent(t, "echo", "echo", func(c agentCall) (int, string) {
		calls <- c
		return 200, `{"output":{"echoed":` + string(c.Input) + `}}`
	})

	resp, b := g.postJSON(t, "/api/v1/agents/echo/execute", `{"capability":"echo","input":{"text":"hi","n":12345678901234567890}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("execute: %d %s", resp.StatusCode, b)
	}
	var ex platform.Execution
	mustUnmarshal(t, b, &ex)
	if ex.TaskID == "" || ex.Status != "succeeded" || ex.Agent != "echo" ||
		string(ex.Output) != `{"echoed":{"text":"hi","n":12345678901234567890}}` {
		t.Fatalf("execution: %s", b)
	}
	if c := <-calls; c.Capability != "echo" || c.TaskID != ex.TaskID {
		t.Fatalf("the agent got %+v", c)
	}

	// By ID, without a capability or an input: the agent gets null.
	resp, b = g.postJSON(t, "/api/v1/agents/"+a.ID+"/execute", `{}`)
	mustUnmarshal(t, b, &ex)
	if resp.StatusCode != http.StatusOK || string(ex.Output) != `{"echoed":null}` {
		t.Fatalf("execute by ID: %d %s", resp.StatusCode, b)
	}
	if c := <-calls; c.Capability != "" || string(c.Input) != "null" {
		t.Fatalf("the agent got %+v", c)
	}
	if runs := g.runs(t); len(runs) != 0 {
		t.Fatalf("a direct call stored %d run(s)", len(runs))
	}
}

// TestExecuteBadInput checks what the caller of a bad execute request, or
// of one the agent fails, sees.
func TestExecuteBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.agent(t, "echo", "echo", func(c agentCall) (int, string) { return 200, string(c.Input) })
	g.agent(t, "broken", "echo", func(agentCall) (int, string) { return 500, `{"error":"boom"}` })
	g.agent(t, "liar", "echo", func(agentCall) (int, string) { return 200, `not json` })
	g.agent(t, "asleep", "echo", func(agentCall) (int, string) { return 200, `{}` })
	if resp, b := g.do(t, "PATCH", "/api/v1/agents/asleep", "application/merge-patch+json", []byte(`{"status":"inactive"}`)); resp.StatusCode != 200 {
		t.Fatalf("deactivate: %d %s", resp.StatusCode, b)
	}
	before := g.snapshot(t)

	big := `{"input":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name, path, contentType, body string
		status                        int
		fields                        []string
		detail                        string
	}{
		{"malformed", "/api/v1/agents/echo/execute", "application/json", "{\n  \"input\": [1,\n}", 400, []string{"body"}, "line 3, column 1"},
		{"unknown members", "/api/v1/agents/echo/execute", "application/json", `{"input":1,"timeout":5}`, 400, []string{"/timeout"}, "timeout"},
		{"wrong type", "/api/v1/agents/echo/execute", "application/json", `{"capability":["echo"]}`, 422, []string{"/capability"}, "not valid"},
		{"wrong media type", "/api/v1/agents/echo/execute", "text/plain", `{}`, 415, []string{"Content-Type"}, "application/json"},
		{"too large", "/api/v1/agents/echo/execute", "application/json", big, 413, nil, "limit"},
		{"query", "/api/v1/agents/echo/execute?wait=1s", "application/json", `{}`, 400, []string{"wait"}, "query"},
		{"unknown agent", "/api/v1/agents/ghost/execute", "application/json", `{}`, 404, nil, "ghost"},
		{"missing capability", "/api/v1/agents/echo/execute", "application/json", `{"capability":"fly"}`, 422, []string{"/capability"}, ""},
		{"inactive agent", "/api/v1/agents/asleep/execute", "application/json", `{}`, 422, nil, ""},
		{"agent fails", "/api/v1/agents/broken/execute", "application/json", `{}`, 502, nil, "500"},
		{"agent answers not JSON", "/api/v1/agents/liar/execute", "application/json", `{}`, 502, nil, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := g.do(t, "POST", tt.path, tt.contentType, []byte(tt.body))
			p, _ := problemNaming(t, resp, b, tt.status, tt.detail, tt.fields)
			if want := platform.EBADGATEWAY; tt.status == 502 && p.Code() != want {
				t.Errorf("code %q, want %q", p.Code(), want)
			}
		})
	}
	// Calls record the agents' health; nothing else may change.
	if got, want := withoutHealth(t, g.snapshot(t)), withoutHealth(t, before); got != want {
		t.Fatalf("the registry changed:\n%s\n%s", got, want)
	}
}

// withoutHealth is a registry snapshot with every agent's health cleared.
func withoutHealth(t *testing.T, snapshot string) string {
	t.Helper()
	var agents []*platform.Agent
	mustUnmarshal(t, []byte(snapshot), &agents)
	for _, a := range agents {
		a.Health = platform.AgentHealth{}
	}
	b, _ := json.Marshal(agents)
	return string(b)
}

// TestExecuteTimeout checks that an agent that does not answer within the
// step timeout is a 504.
func TestExecuteTimeout(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	g := &gateway{db: db, Server: ossatest.Start(t, ossatest.WithStore(db), ossatest.WithEngine(func(c *engine.Config) {
		c.StepTimeout = 100 * time.Millisecond
	})).Gateway}
	release := make(chan struct{})
	g.agent(t, "sleepy", "nap", func(agentCall) (int, string) {
		<-release
		return 200, `{}`
	})
	t.Cleanup(func() { close(release) })
	resp, b := g.postJSON(t, "/api/v1/agents/sleepy/execute", `{}`)
	p := problemOf(t, resp, b, http.StatusGatewayTimeout)
	if p.Code() != platform.ETIMEOUT || !strings.Contains(p.Detail, "sleepy") {
		t.Fatalf("problem: %s", b)
	}
}

func TestExecuteIdempotencyKey(t *testing.T) {
	t.Parallel()
	keys := make(chan string, 4)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get("Idempotency-Key")
		fmt.Fprint(w, `{"output":{}}`)
	}))
	t.Cleanup(agent.Close)
	db := ossatest.SQLite(t)
	srv := ossatest.Start(t, ossatest.WithStore(db)).Gateway
	client := ohttp.NewClient(srv.URL())
	if _, err := client.CreateAgent(context.Background(), ohttp.AgentInput{Name: "keyed", Type: platform.AgentWorker, Endpoint: agent.URL}); err != nil {
		t.Fatal(err)
	}
	post := func(key string) (int, string) {
		return postJSON(t, srv.URL()+"/api/v1/agents/keyed/execute", key, `{}`)
	}
	if code, body := post("order-42"); code != 200 || <-keys != "order-42" {
		t.Errorf("the caller's key is passed on: %d %s", code, body)
	}
	code, body := post("")
	var got struct {
		TaskID string `json:"task_id"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || <-keys != got.TaskID {
		t.Errorf("without a key the task ID is the key: %d %s", code, body)
	}
	if code, body := post(strings.Repeat("k", 256)); code != 400 || !strings.Contains(body, "Idempotency-Key") || len(keys) != 0 {
		t.Errorf("an overlong key is refused before any call: %d %s", code, body)
	}
}
