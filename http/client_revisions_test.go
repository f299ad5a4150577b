package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

// TestClientWorkflowRevisions checks PutWorkflow, ListWorkflowRevisions,
// GetWorkflowRevision and Orchestrate with a revision against a real
// gateway.
func TestClientWorkflowRevisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startClientServer(t)
	endpoint := agentServer(t, func(call agentCall) (int, string) { return 200, `{"output":` + string(call.Input) + `}` })
	if _, err := c.CreateAgent(ctx, ohttp.AgentInput{Name: "greeter", Type: platform.AgentWorker, Capabilities: []string{"greet"}, Endpoint: endpoint}); err != nil {
		t.Fatal(err)
	}
	yaml := ohttp.PutWorkflowOptions{ContentType: "application/yaml"}
	first, created, err := c.PutWorkflow(ctx, "hello", greeting("hello", "1.0.0", "hi"), yaml)
	if err != nil || !created || first.Revision != 1 {
		t.Fatalf("create: %+v, %v, %v", first, created, err)
	}
	manifestJSON := `{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"hello","version":"2.0.0"},` +
		`"spec":{"steps":[{"id":"greet","kind":"Agent","ref":"greeter","input":{"word":"hey"}}]}}`
	second, created, err := c.PutWorkflow(ctx, "hello", []byte(manifestJSON), ohttp.PutWorkflowOptions{IfMatch: ohttp.WorkflowETag(first)})
	if err != nil || created || second.Revision != 2 || second.ID != first.ID || second.Version != "2.0.0" {
		t.Fatalf("update: %+v, %v, %v", second, created, err)
	}
	// A stale ETag is a precondition problem, and nothing changes.
	_, _, err = c.PutWorkflow(ctx, "hello", greeting("hello", "3.0.0", "yo"), ohttp.PutWorkflowOptions{
		ContentType: "application/yaml", IfMatch: ohttp.WorkflowETag(first)})
	p := wantProblem(t, err, http.StatusPreconditionFailed, platform.EPRECONDITION)
	if len(p.Errors) != 1 || p.Errors[0].Field != "If-Match" || !strings.Contains(p.Detail, "revision 2") {
		t.Fatalf("stale If-Match: %+v", p)
	}
	_, _, err = c.PutWorkflow(ctx, "other", []byte(manifestJSON), ohttp.PutWorkflowOptions{})
	p = wantProblem(t, err, http.StatusUnprocessableEntity, platform.EINVALID)
	if p.Errors[0].Field != "/metadata/name" {
		t.Fatalf("other name: %+v", p)
	}

	l, err := c.ListWorkflowRevisions(ctx, "hello", ohttp.RevisionQuery{Limit: 1})
	if err != nil || len(l.Items) != 1 || l.Items[0].Revision != 2 || l.NextCursor == nil {
		t.Fatalf("first page: %+v, %v", l, err)
	}
	l, err = c.ListWorkflowRevisions(ctx, first.ID, ohttp.RevisionQuery{Limit: 1, Cursor: *l.NextCursor})
	if err != nil || len(l.Items) != 1 || l.Items[0].Revision != 1 || l.NextCursor != nil {
		t.Fatalf("second page: %+v, %v", l, err)
	}
	rev, err := c.GetWorkflowRevision(ctx, "hello", 1)
	if err != nil || rev.Version != "1.0.0" || !strings.Contains(string(rev.Definition), `"word":"hi"`) {
		t.Fatalf("revision 1: %+v, %v", rev, err)
	}
	_, err = c.GetWorkflowRevision(ctx, "hello", 3)
	wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)
	_, err = c.ListWorkflowRevisions(ctx, "ghost", ohttp.RevisionQuery{})
	wantProblem(t, err, http.StatusNotFound, platform.ENOTFOUND)

	run, err := c.Orchestrate(ctx, ohttp.OrchestrateRequest{Workflow: "hello", Revision: 1}, 30*time.Second)
	if err != nil || run.Status != platform.RunSucceeded || run.WorkflowRevision != 1 || run.WorkflowVersion != "1.0.0" ||
		string(run.Output) != `{"greet":{"word":"hi"}}` {
		t.Fatalf("run of revision 1: %+v, %v", run, err)
	}
	run, err = c.Orchestrate(ctx, ohttp.OrchestrateRequest{Workflow: "hello"}, 30*time.Second)
	if err != nil || run.WorkflowRevision != 2 || run.WorkflowVersion != "2.0.0" {
		t.Fatalf("run of the newest: %+v, %v", run, err)
	}
}
