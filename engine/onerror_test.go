package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
)

// submitAs is submit for a workflow of another release than v0.4.6.
func (e *env) submitAs(apiVersion, spec string) (string, error) {
	e.t.Helper()
	def := fmt.Sprintf(`{"apiVersion":%q,"kind":"Workflow","metadata":{"name":"wf"},"spec":%s}`, apiVersion, spec)
	run, err := e.eng.NewRun(context.Background(), platform.DefaultNamespace,
		&platform.Workflow{Name: "wf", Definition: json.RawMessage(def)}, nil, nil)
	if err != nil {
		return "", err
	}
	if err := e.db.CreateRun(context.Background(), run); err != nil {
		e.t.Fatal(err)
	}
	return run.ID, nil
}

func TestOnErrorString(t *testing.T) { backends(t, testOnErrorString) }

// testOnErrorString checks a step's on_error written as a plain string, as
// ossa/v0.5 allows: continue and fail act as their object forms, and the
// strings that cannot stand alone are refused at the on_error itself.
func testOnErrorString(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	e.agent("ok", nil, echo("ok"))
	e.agent("bad", nil, func(agentCall) (int, string) { return 400, `{"error":"bad input"}` })

	id, err := e.submitAs("ossa/v0.5", `{"steps":[{"id":"a","ref":"bad","on_error":"continue"},{"id":"b","ref":"ok","depends_on":["a"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	r := e.wait(id, 20*time.Second)
	out := output(t, r)
	if _, ok := out["b"]; !ok || r.Step("a").Status != platform.StepFailed || r.Step("b").Status != platform.StepSucceeded {
		t.Errorf("on_error: continue: %s", dump(r))
	}
	id, err = e.submitAs("ossa/v0.5", `{"steps":[{"id":"a","ref":"bad","on_error":"fail"},{"id":"b","ref":"ok","depends_on":["a"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.wait(id, 20*time.Second); r.Status != platform.RunFailed || r.Step("a").Status != platform.StepFailed {
		t.Errorf("on_error: fail: %s", dump(r))
	}
	for _, c := range []struct{ onError, want string }{
		{`"compensate"`, "/workflow/spec/steps/0/on_error: 'compensate' needs its compensation step"},
		{`"goto"`, `/workflow/spec/steps/0/on_error: "goto" is not supported`},
		{`{"action":"goto"}`, `/workflow/spec/steps/0/on_error/action: "goto" is not supported`},
		{`{"action":"compensate"}`, "/workflow/spec/steps/0/on_error/compensation: is required"},
		{`7`, "/workflow/spec/steps/0/on_error: must be 'fail', 'continue' or an object"},
	} {
		_, err := e.submitAs("ossa/v0.5", `{"steps":[{"id":"a","ref":"ok","on_error":`+c.onError+`}]}`)
		var pe *platform.Error
		if !asError(err, &pe) || pe.Code != platform.EINVALID || len(pe.Fields) != 1 ||
			!strings.HasPrefix(pe.Fields[0].Field+": "+pe.Fields[0].Message, c.want) {
			t.Errorf("on_error %s: %v, want %q", c.onError, err, c.want)
		}
	}
}
