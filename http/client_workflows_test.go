package http_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	ohttp "github.com/ossa-platform/platform/http"
)

// greetManifest is a JSON Workflow manifest, written with spaces the
// gateway keeps.
const greetManifest = `{"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "greet", "version": "0.1.0"},
  "spec": {"steps": [{"id": "hello", "capability": "greet"}]}}`

func TestClientWorkflowLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)

	review, err := c.CreateWorkflow(ctx, readTestdata(t, "workflow.yaml"), "application/yaml")
	if err != nil {
		t.Fatal(err)
	}
	if review.ID == "" || review.Name != "review-pipeline" || review.Version != "1.0.0" || review.APIVersion != "ossa/v0.4.6" || len(review.Definition) == 0 {
		t.Fatalf("created = %+v", review)
	}
	greet, err := c.CreateWorkflow(ctx, []byte(greetManifest), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if greet.Name != "greet" {
		t.Fatalf("created = %+v", greet)
	}

	for _, ref := range []string{review.ID, "review-pipeline"} {
		got, err := c.GetWorkflow(ctx, ref)
		if err != nil {
			t.Fatalf("GetWorkflow(%q): %v", ref, err)
		}
		if got.ID != review.ID || !got.CreatedAt.Equal(review.CreatedAt) {
			t.Fatalf("GetWorkflow(%q) = %+v, want %+v", ref, got, review)
		}
	}

	page, err := c.ListWorkflows(ctx, ohttp.WorkflowQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != review.ID || page.NextCursor == nil {
		t.Fatalf("first page = %+v", page)
	}
	page, err = c.ListWorkflows(ctx, ohttp.WorkflowQuery{Limit: 1, Cursor: *page.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != greet.ID || page.NextCursor != nil {
		t.Fatalf("second page = %+v", page)
	}

	// The JSON manifest is kept as it was sent.
	resp, err := http.Get(c.BaseURL + "/api/v1/workflows/greet/manifest")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != greetManifest {
		t.Fatalf("stored manifest:\n%s\nwant\n%s", body, greetManifest)
	}

	if err := c.DeleteWorkflow(ctx, "greet"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetWorkflow(ctx, "greet")
	wantProblem(t, err, 404, "not_found")
	wantProblem(t, c.DeleteWorkflow(ctx, "greet"), 404, "not_found")
}

// TestClientWorkflowRefused checks that a manifest the gateway refuses is a
// *Problem that says why, and that nothing is stored.
func TestClientWorkflowRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)
	if _, err := c.CreateWorkflow(ctx, readTestdata(t, "workflow.yaml"), "application/yaml"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		code, field string
	}{
		{"taken name", string(readTestdata(t, "workflow.yaml")), "application/yaml", 409, "conflict", ""},
		{"not YAML", "steps: [", "application/yaml", 400, "bad_request", "body"},
		{"an Agent", string(readTestdata(t, "agent.yaml")), "application/yaml", 422, "invalid", "/kind"},
		{"no steps", `{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"empty"},"spec":{"steps":[]}}`,
			"application/json", 422, "invalid", "/spec/steps"},
	}
	for _, tt := range tests {
		_, err := c.CreateWorkflow(ctx, []byte(tt.body), tt.contentType)
		p := wantProblem(t, err, tt.status, tt.code)
		if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
			t.Errorf("%s: errors %+v, want the first on %s", tt.name, p.Errors, tt.field)
		}
	}
	l, err := c.ListWorkflows(ctx, ohttp.WorkflowQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "review-pipeline" {
		t.Fatalf("after refusals: %+v", l.Items)
	}
}

func TestClientAgentFromManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)

	yamlManifest := readTestdata(t, "agent.yaml")
	a, err := c.CreateAgentFromManifest(ctx, yamlManifest, "application/yaml", "http://localhost:9001")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "code-reviewer" || a.Endpoint != "http://localhost:9001" || a.APIVersion != "ossa/v0.4.6" {
		t.Fatalf("from YAML = %+v", a)
	}

	jsonManifest := `{"apiVersion": "ossa/v0.4.6", "kind": "Agent",
  "metadata": {"name": "fetcher"}, "spec": {"role": "Fetch.", "endpoint": "http://localhost:9002", "capabilities": ["fetch"]}}`
	a, err = c.CreateAgentFromManifest(ctx, []byte(jsonManifest), "application/json", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "fetcher" || a.Endpoint != "http://localhost:9002" || len(a.Capabilities) != 1 {
		t.Fatalf("from JSON = %+v", a)
	}
	for name, want := range map[string]string{"code-reviewer": string(yamlManifest), "fetcher": jsonManifest} {
		resp, err := http.Get(c.BaseURL + "/api/v1/agents/" + name + "/manifest")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("stored manifest of %s:\n%s\nwant\n%s", name, body, want)
		}
	}

	// Refused: a Workflow, and a bad endpoint; nothing more is stored.
	_, err = c.CreateAgentFromManifest(ctx, []byte(greetManifest), "application/json", "")
	if p := wantProblem(t, err, 422, "invalid"); len(p.Errors) == 0 || p.Errors[0].Field != "/kind" {
		t.Fatalf("a Workflow as an agent: %+v", p)
	}
	_, err = c.CreateAgentFromManifest(ctx, []byte(`{"apiVersion":"ossa/v0.4.6","kind":"Agent","metadata":{"name":"other"},"spec":{"role":"x"}}`),
		"application/json", "ftp://nowhere")
	if p := wantProblem(t, err, 422, "invalid"); len(p.Errors) == 0 || p.Errors[0].Field != "endpoint" {
		t.Fatalf("a bad endpoint: %+v", p)
	}
	l, err := c.ListAgents(ctx, ohttp.AgentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 2 {
		t.Fatalf("after refusals: %d agents", len(l.Items))
	}
}
