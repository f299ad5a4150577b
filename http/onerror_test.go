package http_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
)

// onErrorWorkflow is a workflow whose first step fails and whose second
// depends on it; apiVersion and the first step's on_error vary.
const onErrorWorkflow = "apiVersion: %s\nkind: Workflow\nmetadata:\n  name: %s\nspec:\n  steps:\n" +
	"    - id: a\n      kind: Agent\n      ref: refuser\n      on_error: %s\n" +
	"    - id: b\n      kind: Agent\n      ref: greeter\n      depends_on: [a]\n"

// TestOnErrorPlainString checks on_error: continue written as a plain
// string through the API: ossa/v0.5, whose schema allows it, stores it and
// runs it (the failed step does not fail the run, its dependent runs);
// ossa/v0.4.6, whose schema wants {action: continue}, is refused, stored
// or inline, with the pointer, the position and the object form, and
// nothing is stored or run.
func TestOnErrorPlainString(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.agent(t, "refuser", "refuse", func(agentCall) (int, string) { return http.StatusBadRequest, `{"error":"no"}` })
	g.agent(t, "greeter", "greet", func(agentCall) (int, string) { return 200, `{"output":"hello"}` })

	for _, c := range []struct{ name, onError string }{{"plain", "continue"}, {"object", "{action: continue}"}} {
		src := fmt.Sprintf(onErrorWorkflow, "ossa/v0.5", c.name, c.onError)
		resp, b := g.do(t, http.MethodPost, "/api/v1/workflows", "application/yaml", []byte(src))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: POST = %d %s", c.name, resp.StatusCode, b)
		}
		resp, b = g.postJSON(t, "/api/v1/orchestrate?wait=30s", fmt.Sprintf(`{"workflow":%q}`, c.name))
		var run platform.Run
		mustUnmarshal(t, b, &run)
		if resp.StatusCode != http.StatusOK || run.Status != platform.RunSucceeded ||
			run.Step("a").Status != platform.StepFailed || run.Step("b").Status != platform.StepSucceeded {
			t.Fatalf("%s: run %d %s", c.name, resp.StatusCode, b)
		}
	}
	// A plain "fail" fails the run, and b is skipped.
	resp, b := g.do(t, http.MethodPost, "/api/v1/workflows", "application/yaml", []byte(fmt.Sprintf(onErrorWorkflow, "ossa/v0.5", "fails", "fail")))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST fail = %d %s", resp.StatusCode, b)
	}
	_, b = g.postJSON(t, "/api/v1/orchestrate?wait=30s", `{"workflow":"fails"}`)
	var run platform.Run
	mustUnmarshal(t, b, &run)
	if run.Status != platform.RunFailed || run.Step("a").Status != platform.StepFailed {
		t.Fatalf("on_error: fail: %s", b)
	}

	before := listWorkflows(t, g)
	runsBefore := listRuns(t, g)
	src := fmt.Sprintf(onErrorWorkflow, "ossa/v0.4.6", "old", "continue")
	resp, b = g.do(t, http.MethodPost, "/api/v1/workflows", "application/yaml", []byte(src))
	_, got := problemNaming(t, resp, b, http.StatusUnprocessableEntity, "the Workflow manifest is not valid", []string{"/spec/steps/0/on_error"})
	if msg := got["/spec/steps/0/on_error"]; !strings.Contains(msg, "got string, want object") || !strings.Contains(msg, "{action: continue}") {
		t.Errorf("message %q does not show the object form", msg)
	}
	p := problemOf(t, resp, b, http.StatusUnprocessableEntity)
	if e := p.Errors[0]; e.Line != 10 || e.Column != 17 {
		t.Errorf("located at %d:%d, want 10:17", e.Line, e.Column)
	}
	inline := `{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"old"},"spec":{"steps":[` +
		`{"id":"a","kind":"Agent","ref":"refuser","on_error":"continue"}]}}}`
	resp, b = g.postJSON(t, "/api/v1/orchestrate", inline)
	problemNaming(t, resp, b, http.StatusUnprocessableEntity, "", []string{"/workflow/spec/steps/0/on_error"})
	if after := listWorkflows(t, g); after != before {
		t.Errorf("a refused workflow changed the stored ones:\n%s\nwant\n%s", after, before)
	}
	if after := listRuns(t, g); after != runsBefore {
		t.Errorf("a refused run was stored: %s", after)
	}
}

// listWorkflows is the names of every stored workflow, from the store.
func listWorkflows(t *testing.T, g *gateway) string {
	t.Helper()
	page, err := g.db.ListWorkflows(context.Background(), platform.WorkflowFilter{Namespace: platform.DefaultNamespace, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range page.Items {
		names = append(names, fmt.Sprintf("%s@%s", w.Name, w.UpdatedAt))
	}
	return strings.Join(names, ",")
}

// listRuns is the IDs of every stored run, from the store.
func listRuns(t *testing.T, g *gateway) string {
	t.Helper()
	page, err := g.db.ListRuns(context.Background(), platform.RunFilter{Namespace: platform.DefaultNamespace, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Items {
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, ",")
}
