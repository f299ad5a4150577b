package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
)

// doubler is an A2A agent built with the official SDK: it answers a task
// with an artifact holding twice the input's n.
type doubler struct{}

func (doubler) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	var n float64
	for _, p := range reqCtx.Message.Parts {
		if d, ok := p.(a2a.DataPart); ok {
			n, _ = d.Data["n"].(float64)
		}
	}
	if err := q.Write(ctx, a2a.NewArtifactEvent(reqCtx, a2a.DataPart{Data: map[string]any{"n": n * 2}})); err != nil {
		return err
	}
	done := a2a.NewStatusUpdateEvent(reqCtx, a2a.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

func (doubler) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error { return nil }

// TestA2AAgentInWorkflow runs a workflow whose middle step is an A2A agent,
// between two plain HTTP agents.
func TestA2AAgentInWorkflow(t *testing.T) { backends(t, testA2AAgentInWorkflow) }

func testA2AAgentInWorkflow(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	mux := http.NewServeMux()
	mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(doubler{})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a := &platform.Agent{Name: "doubler", Type: platform.AgentWorker, Capabilities: []string{"double"},
		Endpoint: srv.URL + "/rpc", Protocol: platform.ProtocolA2A}
	a.Normalize()
	if err := e.db.CreateAgent(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	e.agent("plus-one", nil, func(c agentCall) (int, string) {
		var in struct{ N float64 }
		json.Unmarshal(c.Input, &in)
		return 200, fmt.Sprintf(`{"output":{"n":%v}}`, in.N+1)
	})
	r := e.run(`{"steps":[
	  {"id":"a","ref":"plus-one","input":{"n":"${{ workflow.input.n }}"}},
	  {"id":"b","capability":"double","input":{"n":"${{ steps.a.output.n }}"}},
	  {"id":"c","ref":"plus-one","input":{"n":"${{ steps.b.output.n }}"}}]}`, `{"n":4}`)
	out := output(t, r)
	if got := out["c"].(map[string]any)["n"]; got != 11.0 {
		t.Errorf("(4+1)*2+1 = %v: %s", got, dump(r))
	}
	if s := r.Step("b"); s.Agent != "doubler" {
		t.Errorf("b ran on %q", s.Agent)
	}
}
