package http_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterAgentFromManifest(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	src := readTestdata(t, "agent.yaml")
	resp, b := g.do(t, "POST", "/api/v1/agents?endpoint=http://localhost:9100/review", "application/yaml", src)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register YAML manifest: %d %s", resp.StatusCode, b)
	}
	var a platform.Agent
	mustUnmarshal(t, b, &a)
	if a.Name != "code-reviewer" || a.Type != platform.AgentWorker || a.Version != "1.4.0" || a.APIVersion != "ossa/v0.4.6" ||
		a.Endpoint != "http://localhost:9100/review" || a.Labels["team"] != "platform" || len(a.Labels) != 1 ||
		strings.Join(a.Capabilities, ",") != "code-review,summarize,fetch-diff,post-comment" {
		t.Fatalf("derived agent: %s", b)
	}

	// The manifest comes back verbatim, or as JSON on request.
	resp, b = g.do(t, "GET", "/api/v1/agents/code-reviewer/manifest", "", nil)
	if resp.StatusCode != 200 || string(b) != string(src) || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("manifest as stored: %d %q", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/api/v1/agents/code-reviewer/manifest", "", nil, "Accept", "application/json")
	var m map[string]any
	mustUnmarshal(t, b, &m)
	if resp.Header.Get("Content-Type") != "application/json" || m["kind"] != "Agent" {
		t.Fatalf("manifest as JSON: %s", b)
	}

	// JSON {"manifest": ...} registers too; without an endpoint the agent is
	// registered (it cannot be invoked until it has one).
	m["metadata"].(map[string]any)["name"] = "code-reviewer-2"
	body, _ := json.Marshal(map[string]any{"manifest": m})
	resp, b = g.do(t, "POST", "/api/v1/agents", "application/json", body)
	mustUnmarshal(t, b, &a)
	if resp.StatusCode != http.StatusCreated || a.Endpoint != "" || a.APIVersion != "ossa/v0.4.6" {
		t.Fatalf("register JSON manifest: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/api/v1/agents/code-reviewer-2/manifest", "", nil, "Accept", "application/yaml")
	if resp.StatusCode != 200 || !strings.Contains(string(b), "name: code-reviewer-2\n") {
		t.Fatalf("JSON manifest as YAML: %s", b)
	}

	// An agent registered without a manifest has none to serve.
	g.register(t, summarizer)
	resp, b = g.do(t, "GET", "/api/v1/agents/summarizer/manifest", "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
}

func TestRegisterInvalidManifest(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	before := g.snapshot(t)
	bad := strings.Replace(string(readTestdata(t, "agent.yaml")), "name: code-reviewer", "name: Code_Reviewer", 1)
	bad = strings.Replace(bad, "type: http\n      endpoint: https://git.example/api/diff", "type: telepathy\n      endpoint: https://git.example/api/diff", 1)
	for _, tt := range []struct {
		name, contentType, body string
		status                  int
		fields                  []string
	}{
		{"schema errors", "application/yaml", bad, 422, []string{"/metadata/name", "/spec/tools/0/type"}},
		{"not YAML", "application/yaml", "kind: [unclosed\n", 400, []string{"body"}},
		{"two documents", "application/yaml", "kind: Agent\n---\nkind: Agent\n", 400, nil},
		{"wrong kind", "application/yaml", string(readTestdata(t, "workflow.yaml")), 422, []string{"/kind"}},
		{"unsupported version", "application/yaml", "apiVersion: ossa/v9\nkind: Agent\nmetadata: {name: x}\n", 422, []string{"/apiVersion"}},
		{"wrapper with extra member", "application/json", `{"manifest":{"kind":"Agent"},"name":"x"}`, 400, nil},
		{"endpoint without manifest", "application/json", summarizer, 400, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/v1/agents"
			if tt.name == "endpoint without manifest" {
				path += "?endpoint=http://x"
			}
			resp, b := g.do(t, "POST", path, tt.contentType, []byte(tt.body))
			p, _ := problemNaming(t, resp, b, tt.status, "", tt.fields)
			for _, e := range p.Errors {
				if strings.HasPrefix(e.Field, "/") && e.Line == 0 {
					t.Errorf("field %s has no line: %s", e.Field, b)
				}
			}
			if after := g.snapshot(t); after != before {
				t.Fatal("the store changed")
			}
		})
	}
}

func TestValidateEndpoint(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	resp, b := g.do(t, "POST", "/api/v1/validate", "application/yaml", readTestdata(t, "agent.yaml"))
	var rep ohttp.ValidationReport
	mustUnmarshal(t, b, &rep)
	if resp.StatusCode != 200 || !rep.Valid || rep.Kind != "Agent" || rep.Schema != "v0.4.yaml" {
		t.Fatalf("valid manifest: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "POST", "/api/v1/validate", "application/json", []byte(`{"apiVersion":"ossa/v0.4.6","kind":"Agent","metadata":{"name":"x","version":"v1"}}`))
	mustUnmarshal(t, b, &rep)
	if resp.StatusCode != 200 || rep.Valid || len(rep.Diagnostics) == 0 {
		t.Fatalf("invalid manifest: %d %s", resp.StatusCode, b)
	}
	if g.snapshot(t) != "null" {
		t.Fatal("validate stored something")
	}
}

func TestWorkflowRoutes(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	src := readTestdata(t, "workflow.yaml")
	resp, b := g.do(t, "POST", "/api/v1/workflows", "application/yaml", src)
	var wf platform.Workflow
	mustUnmarshal(t, b, &wf)
	if resp.StatusCode != http.StatusCreated || wf.Name != "review-pipeline" || wf.Version != "1.0.0" ||
		!strings.Contains(string(wf.Definition), `"depends_on":["fetch"]`) {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "POST", "/api/v1/workflows", "application/yaml", src)
	problemOf(t, resp, b, http.StatusConflict)

	resp, b = g.do(t, "GET", "/api/v1/workflows/review-pipeline", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), wf.ID) {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/api/v1/workflows/"+wf.ID+"/manifest", "", nil)
	if resp.StatusCode != 200 || string(b) != string(src) {
		t.Fatalf("manifest: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/api/v1/workflows?limit=1", "", nil)
	var list ohttp.WorkflowList
	mustUnmarshal(t, b, &list)
	if resp.StatusCode != 200 || len(list.Items) != 1 || list.NextCursor != nil {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}

	// A cycle is refused, naming where it is; nothing is stored.
	cyclic := strings.Replace(string(src), "name: review-pipeline", "name: cyclic", 1)
	cyclic = strings.Replace(cyclic, "    - id: fetch\n", "    - id: fetch\n      depends_on: [review]\n", 1)
	resp, b = g.do(t, "POST", "/api/v1/workflows", "application/yaml", []byte(cyclic))
	p := problemOf(t, resp, b, http.StatusUnprocessableEntity)
	if !strings.Contains(b2s(b), "cycle") || p.Errors[0].Line == 0 {
		t.Fatalf("cycle: %s", b)
	}
	resp, b = g.do(t, "GET", "/api/v1/workflows/cyclic", "", nil)
	problemOf(t, resp, b, http.StatusNotFound)

	resp, b = g.do(t, "DELETE", "/api/v1/workflows/review-pipeline", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "DELETE", "/api/v1/workflows/review-pipeline", "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
}

func b2s(b []byte) string { return string(b) }
