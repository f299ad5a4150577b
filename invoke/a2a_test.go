package invoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/invoke"
)

// executorFunc is an a2asrv.AgentExecutor that cannot be cancelled.
type executorFunc func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error

func (f executorFunc) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	return f(ctx, reqCtx, q)
}

func (executorFunc) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return nil
}

// sdkAgent is an A2A agent served by the official SDK: its JSON-RPC
// handler at /invoke and its card at the well-known path. It records the
// method and headers of every JSON-RPC call.
type sdkAgent struct {
	*platform.Agent
	mu      sync.Mutex
	methods []string
	headers []http.Header
	bodies  [][]byte
}

func (s *sdkAgent) calls() ([]string, []http.Header, [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.methods, s.headers, s.bodies
}

func newSDKAgent(t *testing.T, exec a2asrv.AgentExecutor) *sdkAgent {
	t.Helper()
	s := &sdkAgent{}
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(exec, a2asrv.WithLogger(slog.New(slog.DiscardHandler))))
	mux := http.NewServeMux()
	mux.Handle("/invoke", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &req)
		s.mu.Lock()
		s.methods = append(s.methods, req.Method)
		s.headers = append(s.headers, r.Header.Clone())
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rpc.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	card := &a2a.AgentCard{
		Name:               "echo",
		Description:        "echoes its input",
		URL:                srv.URL + "/invoke",
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            "1.0.0",
		DefaultInputModes:  []string{"application/json"},
		DefaultOutputModes: []string{"application/json"},
		Skills:             []a2a.AgentSkill{{ID: "echo", Name: "echo", Description: "echo"}},
	}
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(card))
	s.Agent = &platform.Agent{Name: "echo", Endpoint: srv.URL + "/invoke", Protocol: platform.ProtocolA2A}
	return s
}

// inputData is the data of the first data part of the request's message.
func inputData(reqCtx *a2asrv.RequestContext) map[string]any {
	for _, p := range reqCtx.Message.Parts {
		if d, ok := p.(a2a.DataPart); ok {
			return d.Data
		}
	}
	return nil
}

// complete writes an artifact with parts and then the task's completion.
func complete(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue, parts ...a2a.Part) error {
	if err := q.Write(ctx, a2a.NewArtifactEvent(reqCtx, parts...)); err != nil {
		return err
	}
	done := a2a.NewStatusUpdateEvent(reqCtx, a2a.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

func TestInvokeA2AMessage(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gotMeta map[string]any
	agent := newSDKAgent(t, executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
		mu.Lock()
		gotMeta = reqCtx.Metadata
		mu.Unlock()
		return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.DataPart{Data: map[string]any{"echo": inputData(reqCtx)}}))
	}))
	inv := testInvocation()
	inv.Input = json.RawMessage(`{"text":"hello"}`)
	out, err := invoke.New().Invoke(t.Context(), agent.Agent, inv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"echo":{"text":"hello"}}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}

	mu.Lock()
	defer mu.Unlock()
	wantMeta := map[string]any{
		"task_id":         "task-1",
		"run_id":          "run-1",
		"step":            "summarize",
		"capability":      "text.summarize",
		"idempotency_key": "run-1/summarize",
		"context":         map[string]any{"workflow": "daily", "vars": map[string]any{"lang": "en"}},
	}
	if got, want := fmt.Sprint(gotMeta), fmt.Sprint(wantMeta); got != want {
		t.Errorf("metadata = %s, want %s", got, want)
	}

	methods, headers, _ := agent.calls()
	if len(methods) != 1 || methods[0] != "message/send" {
		t.Fatalf("methods = %q, want one message/send", methods)
	}
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"Idempotency-Key": "run-1/summarize",
		"X-Request-ID":    "req-1",
		"Traceparent":     inv.TraceParent,
	} {
		if got := headers[0].Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
}

func TestInvokeA2ARequestBody(t *testing.T) {
	t.Parallel()
	agent := newSDKAgent(t, executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
		return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.DataPart{Data: inputData(reqCtx)}))
	}))
	tests := []struct {
		name  string
		input string
		data  string
	}{
		{"object keeps every digit", `{"n":12345678901234567890}`, `{"n":12345678901234567890}`},
		{"array is wrapped", `[1,2]`, `{"input":[1,2]}`},
		{"string is wrapped", `"hi"`, `{"input":"hi"}`},
		{"null is wrapped", `null`, `{"input":null}`},
		{"nothing is an empty object", ``, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := testInvocation()
			inv.Input = json.RawMessage(tt.input)
			inv.RequestID = tt.name
			if _, err := invoke.New().Invoke(t.Context(), agent.Agent, inv); err != nil {
				t.Fatal(err)
			}
			_, headers, bodies := agent.calls()
			var body []byte
			for i, h := range headers {
				if h.Get("X-Request-ID") == tt.name {
					body = bodies[i]
				}
			}
			var req struct {
				JSONRPC string `json:"jsonrpc"`
				Method  string `json:"method"`
				Params  struct {
					Message struct {
						Kind  string `json:"kind"`
						Role  string `json:"role"`
						Parts []struct {
							Kind string          `json:"kind"`
							Data json.RawMessage `json:"data"`
						} `json:"parts"`
					} `json:"message"`
					Configuration struct {
						Blocking *bool `json:"blocking"`
					} `json:"configuration"`
				} `json:"params"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			m := req.Params.Message
			if req.JSONRPC != "2.0" || req.Method != "message/send" || m.Kind != "message" || m.Role != "user" || len(m.Parts) != 1 || m.Parts[0].Kind != "data" {
				t.Fatalf("request = %s", body)
			}
			if got := string(m.Parts[0].Data); got != tt.data {
				t.Errorf("data = %s, want %s", got, tt.data)
			}
			if b := req.Params.Configuration.Blocking; b == nil || !*b {
				t.Errorf("blocking = %v, want true", b)
			}
		})
	}
}

func TestInvokeA2ATask(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	immediate := executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
		return complete(ctx, reqCtx, q, a2a.DataPart{Data: map[string]any{"summary": "short"}})
	})
	slow := executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
		if err := q.Write(ctx, a2a.NewStatusUpdateEvent(reqCtx, a2a.TaskStateWorking, nil)); err != nil {
			return err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-release:
		}
		return complete(ctx, reqCtx, q, a2a.TextPart{Text: "Hello"}, a2a.TextPart{Text: ", world!"})
	})
	tests := []struct {
		name        string
		exec        a2asrv.AgentExecutor
		nonBlocking bool
		want        string
		// polls is "none", "some", or "any" when the task may have ended
		// before the SDK answers.
		polls string
	}{
		{"immediate, blocking", immediate, false, `{"summary":"short"}`, "none"},
		{"immediate, non-blocking", immediate, true, `{"summary":"short"}`, "any"},
		{"slow, blocking", slow, false, `"Hello, world!"`, "none"},
		{"slow, non-blocking", slow, true, `"Hello, world!"`, "some"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			agent := newSDKAgent(t, tt.exec)
			c := invoke.New()
			c.A2ANonBlocking = tt.nonBlocking
			out, err := c.Invoke(t.Context(), agent.Agent, testInvocation())
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); got != tt.want {
				t.Errorf("output = %s, want %s", got, tt.want)
			}
			methods, headers, _ := agent.calls()
			if methods[0] != "message/send" {
				t.Errorf("first call = %s", methods[0])
			}
			polls := methods[1:]
			if tt.polls == "none" && len(polls) > 0 || tt.polls == "some" && len(polls) == 0 {
				t.Errorf("calls = %q, want %s polls", methods, tt.polls)
			}
			for i, m := range polls {
				if m != "tasks/get" {
					t.Errorf("poll %d = %s, want tasks/get", i, m)
				}
				if h := headers[i+1]; h.Get("X-Request-ID") != "req-1" || h.Get("Idempotency-Key") != "" {
					t.Errorf("poll %d headers = %v", i, h)
				}
			}
		})
	}
}

func TestInvokeA2AFailures(t *testing.T) {
	t.Parallel()
	status := func(state a2a.TaskState, text string) a2asrv.AgentExecutor {
		return executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
			ev := a2a.NewStatusUpdateEvent(reqCtx, state, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: text}))
			ev.Final = true
			return q.Write(ctx, ev)
		})
	}
	tests := []struct {
		name        string
		exec        a2asrv.AgentExecutor
		nonBlocking bool
		retryable   bool
		contains    string
	}{
		{"failed", status(a2a.TaskStateFailed, "model exploded"), false, false, "agent echo ended the task as failed: model exploded"},
		{"failed, polled", status(a2a.TaskStateFailed, "model exploded"), true, false, "ended the task as failed: model exploded"},
		{"rejected", status(a2a.TaskStateRejected, "not my job"), false, false, "ended the task as rejected: not my job"},
		{"input required", status(a2a.TaskStateInputRequired, "which language?"), false, false, "paused the task as input-required, waiting for something the gateway cannot give: which language?"},
		{"auth required", status(a2a.TaskStateAuthRequired, "log in"), false, false, "paused the task as auth-required"},
		{"executor error", executorFunc(func(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
			return errors.New("database down")
		}), false, true, "JSON-RPC error -32603 (internal error)"},
		{"invalid params", executorFunc(func(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
			return fmt.Errorf("text is required: %w", a2a.ErrInvalidParams)
		}), false, false, "JSON-RPC error -32602 (invalid params): invalid params: text is required: invalid params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			agent := newSDKAgent(t, tt.exec)
			c := invoke.New()
			c.A2ANonBlocking = tt.nonBlocking
			out, err := c.Invoke(t.Context(), agent.Agent, testInvocation())
			if err == nil {
				t.Fatalf("output = %s, want an error", out)
			}
			ie := invocationError(t, err)
			if ie.Retryable != tt.retryable || !strings.Contains(ie.Message, tt.contains) {
				t.Errorf("err = %+v, want retryable %v containing %q", ie, tt.retryable, tt.contains)
			}
		})
	}
}

func TestInvokeA2AStepTimeoutWhilePolling(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	agent := newSDKAgent(t, executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
		if err := q.Write(ctx, a2a.NewStatusUpdateEvent(reqCtx, a2a.TaskStateWorking, nil)); err != nil {
			return err
		}
		<-release
		return complete(ctx, reqCtx, q, a2a.TextPart{Text: "late"})
	}))
	c := invoke.New()
	c.A2ANonBlocking = true
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(ctx, agent.Agent, testInvocation())
	ie := invocationError(t, err)
	if !ie.Retryable || ie.Message != "agent echo did not finish its task within the step timeout" {
		t.Errorf("err = %+v", ie)
	}
	if methods, _, _ := agent.calls(); len(methods) < 2 || methods[1] != "tasks/get" {
		t.Errorf("calls = %q, want polling with backoff", methods)
	}
}

// rpcAgent serves a hand-written JSON-RPC answer to every call.
func rpcAgent(t *testing.T, answer func(w http.ResponseWriter, method string)) *platform.Agent {
	t.Helper()
	a, _ := agentAt(t, platform.ProtocolA2A, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Method string `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		answer(w, req.Method)
	}))
	return a
}

func TestInvokeA2AHandWrittenAnswers(t *testing.T) {
	t.Parallel()
	result := func(v string) func(http.ResponseWriter, string) {
		return func(w http.ResponseWriter, _ string) {
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":`+v+`}`)
		}
	}
	tests := []struct {
		name      string
		answer    func(http.ResponseWriter, string)
		want      string
		retryable bool
		contains  string
	}{
		{"message with text parts", result(`{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"a"},{"kind":"text","text":"b"}]}`), `"ab"`, false, ""},
		{"message data beats text", result(`{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"a"},{"kind":"data","data":{"big":12345678901234567890}}]}`), `{"big":12345678901234567890}`, false, ""},
		{"message without parts", result(`{"kind":"message","messageId":"m","role":"agent","parts":[]}`), `null`, false, ""},
		{"completed from status message", result(`{"kind":"task","id":"t","contextId":"c","status":{"state":"completed","message":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"data","data":{"ok":true}}]}}}`), `{"ok":true}`, false, ""},
		{"completed without output", result(`{"kind":"task","id":"t","contextId":"c","status":{"state":"completed"}}`), `null`, false, ""},
		{"canceled", result(`{"kind":"task","id":"t","contextId":"c","status":{"state":"canceled"}}`), "", false, "ended the task as canceled"},
		{"undefined state", result(`{"kind":"task","id":"t","contextId":"c","status":{"state":"sleeping"}}`), "", false, `state "sleeping"`},
		{"wrong kind", result(`{"kind":"status-update"}`), "", false, `kind "status-update"`},
		{"result not an object", result(`[1]`), "", false, "neither a task nor a message"},
		{"not JSON-RPC", func(w http.ResponseWriter, _ string) { io.WriteString(w, "hello") }, "", false, "not a JSON-RPC response"},
		{"method not found", func(w http.ResponseWriter, _ string) {
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}`)
		}, "", false, "JSON-RPC error -32601 (method not found): Method not found"},
		{"internal error", func(w http.ResponseWriter, _ string) {
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error","data":{"error":"db down"}}}`)
		}, "", true, "JSON-RPC error -32603 (internal error): internal error: db down"},
		{"HTTP 503", func(w http.ResponseWriter, _ string) { w.WriteHeader(503) }, "", true, "agent echo answered 503 Service Unavailable"},
		{"HTTP 401", func(w http.ResponseWriter, _ string) { w.WriteHeader(401) }, "", false, "agent echo answered 401 Unauthorized"},
		{"too large", result(`{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"` + strings.Repeat("x", 2000) + `"}]}`), "", false, "more than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := rpcAgent(t, tt.answer)
			c := invoke.New()
			c.MaxResponseBytes = 1024
			out, err := c.Invoke(t.Context(), a, testInvocation())
			if tt.contains == "" {
				if err != nil || string(out) != tt.want {
					t.Errorf("output %s, err %v; want %s", out, err, tt.want)
				}
				return
			}
			ie := invocationError(t, err)
			if ie.Retryable != tt.retryable || !strings.Contains(ie.Message, tt.contains) {
				t.Errorf("err = %+v, want retryable %v containing %q", ie, tt.retryable, tt.contains)
			}
		})
	}
}

func TestInvokeA2APollingFailure(t *testing.T) {
	t.Parallel()
	a := rpcAgent(t, func(w http.ResponseWriter, method string) {
		if method == "message/send" {
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"c","status":{"state":"submitted"}}}`)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})
	_, err := invoke.New().Invoke(t.Context(), a, testInvocation())
	if ie := invocationError(t, err); !ie.Retryable || ie.StatusCode != 502 {
		t.Errorf("err = %+v, want retryable 502", ie)
	}
}

func TestInvokeA2ACancelledWhilePolling(t *testing.T) {
	t.Parallel()
	a := rpcAgent(t, func(w http.ResponseWriter, method string) {
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"c","status":{"state":"working"}}}`)
	})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(120*time.Millisecond, cancel)
	_, err := invoke.New().Invoke(ctx, a, testInvocation())
	if ie := invocationError(t, err); ie.Retryable || !strings.Contains(ie.Message, "cancelled") {
		t.Errorf("err = %+v, want not retryable, cancelled", ie)
	}
}

func TestProbeA2A(t *testing.T) {
	t.Parallel()
	agent := newSDKAgent(t, executorFunc(func(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error { return nil }))
	c := invoke.New()
	if err := c.Probe(t.Context(), agent.Agent); err != nil {
		t.Errorf("SDK agent card: %v", err)
	}

	// A card served under the endpoint's path, not at the origin.
	mux := http.NewServeMux()
	mux.Handle("/agents/echo"+a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&a2a.AgentCard{Name: "echo"}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	under := &platform.Agent{Name: "echo", Endpoint: srv.URL + "/agents/echo/", Protocol: platform.ProtocolA2A}
	if err := c.Probe(t.Context(), under); err != nil {
		t.Errorf("card under the endpoint: %v", err)
	}

	missing := &platform.Agent{Name: "echo", Endpoint: srv.URL + "/agents/other", Protocol: platform.ProtocolA2A}
	err := c.Probe(t.Context(), missing)
	ie := invocationError(t, err)
	for _, s := range []string{srv.URL + "/.well-known/agent-card.json answered 404", srv.URL + "/agents/other/.well-known/agent-card.json answered 404"} {
		if !strings.Contains(ie.Message, s) {
			t.Errorf("message %q lacks %q", ie.Message, s)
		}
	}

	notJSON := rpcAgent(t, func(w http.ResponseWriter, _ string) { io.WriteString(w, "<html></html>") })
	if err := c.Probe(t.Context(), notJSON); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("HTML card: %v", err)
	}
}
