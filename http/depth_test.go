package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// nested is a JSON array nested n levels deep.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// TestDeepBodiesAreRefused sends every route that takes a body JSON and
// YAML nested far deeper than MaxBodyDepth: each answers a 400 problem that
// says where, and nothing is stored. Before the bound, parameters nested
// 1,000 deep reached SQLite, whose JSON check refused them: a 500.
func TestDeepBodiesAreRefused(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.register(t, `{"name":"deep","type":"worker","capabilities":["x"],"endpoint":"http://127.0.0.1:1"}`)
	if resp, b := g.postJSON(t, "/api/v1/workflows", `{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"w"},
		"spec":{"steps":[{"id":"a","kind":"Agent","capability":"x"}]}}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("store the workflow: %d %s", resp.StatusCode, b)
	}
	agentsBefore := g.snapshot(t)
	deep := nested(1000)
	yamlDeep := "apiVersion: ossa/v0.4.6\nkind: Agent\nmetadata:\n  name: y\nspec:\n  x: " + deep + "\n"
	for _, tt := range []struct {
		method, path, contentType, body string
	}{
		{"POST", "/api/v1/orchestrate", "application/json", `{"workflow":"w","parameters":{"p":` + deep + `}}`},
		{"POST", "/api/v1/orchestrate", "application/json", `{"workflow":"w","parameters":` + strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000) + `}`},
		{"POST", "/api/v1/agents", "application/json", `{"name":"x","type":"worker","endpoint":"http://a","metadata":{"m":` + deep + `}}`},
		{"POST", "/api/v1/agents", "application/json", strings.Repeat("[", 500_000)},
		{"POST", "/api/v1/agents", "application/yaml", yamlDeep},
		{"PUT", "/api/v1/agents/deep", "application/json", `{"name":"deep","type":"worker","endpoint":"http://a","metadata":{"m":` + deep + `}}`},
		{"PATCH", "/api/v1/agents/deep", "application/merge-patch+json", `{"metadata":{"m":` + deep + `}}`},
		{"POST", "/api/v1/validate", "application/yaml", strings.Repeat("- ", 2000) + "x\n"},
		{"POST", "/api/v1/validate", "application/yaml", strings.Repeat("[", 100_000)},
		{"POST", "/api/v1/workflows", "application/json", `{"manifest":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"d"},"spec":{"x":` + deep + `}}}`},
		{"POST", "/api/v1/agents/deep/execute", "application/json", `{"input":` + deep + `}`},
	} {
		resp, b := g.do(t, tt.method, tt.path, tt.contentType, []byte(tt.body))
		p := problemOf(t, resp, b, http.StatusBadRequest)
		if !strings.Contains(p.Detail, fmt.Sprint(ohttp.MaxBodyDepth)) {
			t.Errorf("%s %s (%s): detail %q does not give the limit", tt.method, tt.path, tt.contentType, p.Detail)
		}
		if tt.contentType != "application/yaml" && (len(p.Errors) != 1 || p.Errors[0].Field != "body" || p.Errors[0].Line == 0) {
			t.Errorf("%s %s: the problem does not locate the nesting: %s", tt.method, tt.path, b)
		}
	}
	if after := g.snapshot(t); after != agentsBefore {
		t.Errorf("agents changed:\nbefore %s\nafter  %s", agentsBefore, after)
	}
	runs, err := g.db.ListRuns(context.Background(), platform.RunFilter{Namespace: platform.DefaultNamespace, Limit: 10})
	if err != nil || len(runs.Items) != 0 {
		t.Errorf("runs were stored: %v %v", runs.Items, err)
	}
}

// TestBodyAtTheDepthLimit is accepted: the bound refuses only what goes
// beyond it.
func TestBodyAtTheDepthLimit(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	// The agent body is one level, metadata a second, "m" holds the rest.
	body := `{"name":"edge","type":"worker","endpoint":"http://a","metadata":{"m":` + nested(ohttp.MaxBodyDepth-2) + `}}`
	g.register(t, body)
	body = `{"name":"over","type":"worker","endpoint":"http://a","metadata":{"m":` + nested(ohttp.MaxBodyDepth-1) + `}}`
	resp, b := g.postJSON(t, "/api/v1/agents", body)
	problemOf(t, resp, b, http.StatusBadRequest)
}

// FuzzHandlerBodies posts arbitrary bodies, as JSON and as YAML, to the
// routes that read one: the gateway answers each with a 2xx or a 4xx
// problem, never a 5xx, whatever the body's nesting or shape.
func FuzzHandlerBodies(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","type":"worker","endpoint":"http://a"}`, nested(70), `{"workflow":"w","parameters":{"p":[[[1]]]}}`,
		"- - - [x]", "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata: {name: w}\nspec: {steps: [{id: a, ref: deep}]}",
		`{"manifest":{"kind":"Agent"}}`, `{"a":` + strings.Repeat(`{"b":`, 65), "&a [*a]", `{"input":"\u005b\u005b"}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	db := ossatest.SQLite(f)
	h := ossatest.Start(f, ossatest.WithStore(db)).Gateway.Handler()
	agent := &platform.Agent{Name: "deep", Type: platform.AgentWorker, Capabilities: []string{"x"}, Endpoint: "http://127.0.0.1:1"}
	agent.Normalize()
	if err := db.CreateAgent(context.Background(), agent); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, yaml bool) {
		ct := "application/json"
		if yaml {
			ct = "application/yaml"
		}
		for _, route := range []string{"POST /api/v1/agents", "POST /api/v1/validate", "POST /api/v1/workflows",
			"POST /api/v1/orchestrate", "POST /api/v1/agents/deep/execute", "PATCH /api/v1/agents/deep"} {
			method, path, _ := strings.Cut(route, " ")
			req := httptest.NewRequest(method, path, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			// The agent cannot be reached: a call that passed every check
			// is a 502, which is the agent's failure, not the body's.
			if rec.Code >= 500 && !(rec.Code == http.StatusBadGateway && strings.HasSuffix(path, "/execute")) {
				t.Fatalf("%s with %s %q: %d %s", route, ct, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s: %d without a problem: %s", route, rec.Code, rec.Body)
			}
		}
	})
}
