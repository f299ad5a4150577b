package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

// compileWorkflow is a workflow with one step whose input (or loop) is
// given by the case, in the lines 7 and after.
const compileWorkflow = "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata:\n  name: %s\nspec:\n  steps:\n%s"

// TestWorkflowsCompiled checks that the routes storing or running a
// workflow refuse what the engine cannot run, naming the pointer and the
// position of the problem inside its string, and store nothing; and that
// they accept, store and run what only looked wrong to the expressions'
// old check (a string literal naming a step).
func TestWorkflowsCompiled(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.agent(t, "greeter", "greet", func(c agentCall) (int, string) { return 200, fmt.Sprintf(`{"output":%s}`, c.Input) })

	for _, c := range []struct {
		name, steps, field string
		line, column       int
		message            string
	}{
		{"unknown-step", "    - id: a\n      ref: greeter\n      input:\n        x: ${{ steps['nope'].output }}\n",
			"/spec/steps/0/input/x", 10, 16, "names no step of this workflow"},
		{"misplaced-loop-steps", "    - id: l\n      kind: Loop\n      loop:\n        over: ${{ workflow.input.items }}\n        steps: [{id: s, ref: greeter}]\n",
			"/spec/steps/0/loop/steps", 11, 16, "a Loop's steps go beside loop, not inside it"},
		{"unsupported-action", "    - id: a\n      ref: greeter\n      on_error: {action: goto, goto: a}\n",
			"/spec/steps/0/on_error/action", 9, 26, `"goto" is not supported by this gateway`},
		{"syntax", "    - id: a\n      ref: greeter\n      input: {x: \"${{ a = b }}\"}\n",
			"/spec/steps/0/input/x", 9, 25, "column 7: unexpected character '='"},
	} {
		before, runsBefore := listWorkflows(t, g), listRuns(t, g)
		src := fmt.Sprintf(compileWorkflow, c.name, c.steps)
		for _, method := range []string{http.MethodPost, http.MethodPut} {
			path := "/api/v1/workflows"
			if method == http.MethodPut {
				path += "/" + c.name
			}
			resp, b := g.do(t, method, path, "application/yaml", []byte(src))
			_, fields := problemNaming(t, resp, b, http.StatusUnprocessableEntity, "the Workflow manifest is not valid", []string{c.field})
			if !strings.Contains(fields[c.field], c.message) {
				t.Errorf("%s %s: %s lacks %q", method, c.name, fields[c.field], c.message)
			}
			for _, e := range problemOf(t, resp, b, http.StatusUnprocessableEntity).Errors {
				if e.Field == c.field && (e.Line != c.line || e.Column != c.column) {
					t.Errorf("%s %s: %s at %d:%d, want %d:%d", method, c.name, c.field, e.Line, e.Column, c.line, c.column)
				}
			}
		}
		// Inline, the problem is named and located in the request body.
		inline := fmt.Sprintf(`{"workflow": %s}`, yamlToJSON(t, src))
		resp, b := g.postJSON(t, "/api/v1/orchestrate", inline)
		problemNaming(t, resp, b, http.StatusUnprocessableEntity, "", []string{"/workflow" + c.field})
		if after := listWorkflows(t, g); after != before {
			t.Errorf("%s: a refused workflow was stored: %s", c.name, after)
		}
		if after := listRuns(t, g); after != runsBefore {
			t.Errorf("%s: a refused run was stored: %s", c.name, after)
		}
	}

	// Text that only looks like references is stored and runs as written.
	src := fmt.Sprintf(compileWorkflow, "literal",
		"    - id: a\n      ref: greeter\n      input: {x: \"${{ 'steps.nope.output' }} ${{ \\\"workflow.input.x\\\" }}\"}\n")
	resp, b := g.do(t, http.MethodPost, "/api/v1/workflows", "application/yaml", []byte(src))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST literal = %d %s", resp.StatusCode, b)
	}
	resp, b = g.postJSON(t, "/api/v1/orchestrate?wait=30s", `{"workflow":"literal"}`)
	var run platform.Run
	mustUnmarshal(t, b, &run)
	if resp.StatusCode != http.StatusOK || run.Status != platform.RunSucceeded ||
		!strings.Contains(string(run.Output), `"x":"steps.nope.output workflow.input.x"`) {
		t.Fatalf("run literal: %d %s", resp.StatusCode, b)
	}
}

// yamlToJSON is a YAML manifest as JSON, members in order.
func yamlToJSON(t *testing.T, src string) string {
	t.Helper()
	docs, err := manifest.Parse("w.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := docs[0].Root.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
