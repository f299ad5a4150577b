package invoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/invoke"
)

// agentAt starts handler as an agent's HTTP server and returns the agent.
func agentAt(t testing.TB, protocol string, handler http.Handler) (*platform.Agent, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &platform.Agent{Name: "echo", Endpoint: srv.URL + "/run", Protocol: protocol}, srv
}

func testInvocation() *platform.Invocation {
	return &platform.Invocation{
		TaskID:         "task-1",
		RunID:          "run-1",
		Step:           "summarize",
		Capability:     "text.summarize",
		Input:          json.RawMessage(`{"text":"hello","n":12345678901234567890}`),
		Context:        map[string]any{"workflow": "daily", "vars": map[string]any{"lang": "en"}},
		IdempotencyKey: "run-1/summarize",
		RequestID:      "req-1",
		TraceParent:    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
}

// invocationError asserts that err is an *InvocationError and returns it.
func invocationError(t *testing.T, err error) *platform.InvocationError {
	t.Helper()
	var ie *platform.InvocationError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %T %v, want *platform.InvocationError", err, err)
	}
	return ie
}

func TestInvokeHTTPRequest(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		gotReq  *http.Request
		gotBody []byte
	)
	a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotReq, gotBody = r, b
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"output":{"summary":"hi"}}`)
	}))
	c := invoke.New()
	out, err := c.Invoke(t.Context(), a, testInvocation())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), `{"summary":"hi"}`; got != want {
		t.Errorf("output = %s, want %s", got, want)
	}

	mu.Lock()
	defer mu.Unlock()
	if gotReq.Method != http.MethodPost || gotReq.URL.Path != "/run" {
		t.Errorf("request = %s %s, want POST /run", gotReq.Method, gotReq.URL.Path)
	}
	for name, want := range map[string]string{
		"Content-Type":    "application/json",
		"Accept":          "application/json",
		"Idempotency-Key": "run-1/summarize",
		"X-Request-ID":    "req-1",
		"Traceparent":     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"User-Agent":      "ossa-gateway/" + platform.Version,
	} {
		if got := gotReq.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(gotBody, &body); err != nil {
		t.Fatalf("body %s: %v", gotBody, err)
	}
	want := map[string]string{
		"task_id":    `"task-1"`,
		"run_id":     `"run-1"`,
		"step":       `"summarize"`,
		"capability": `"text.summarize"`,
		"input":      `{"text":"hello","n":12345678901234567890}`,
		"context":    `{"vars":{"lang":"en"},"workflow":"daily"}`,
	}
	if len(body) != len(want) {
		t.Errorf("body has members %v, want %d", body, len(want))
	}
	for k, v := range want {
		if got := string(body[k]); got != v {
			t.Errorf("body %s = %s, want %s", k, got, v)
		}
	}
}

func TestInvokeHTTPRequestDefaults(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gotBody []byte
	var gotHeader http.Header
	a, _ := agentAt(t, platform.ProtocolHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotBody, gotHeader = b, r.Header
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	// A direct call: no run, no step, no input, no trace.
	_, err := invoke.New().Invoke(t.Context(), a, &platform.Invocation{TaskID: "t", Capability: "c", IdempotencyKey: "t"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := string(gotBody), `{"task_id":"t","run_id":"","step":"","capability":"c","input":{},"context":{}}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if _, ok := gotHeader["Traceparent"]; ok {
		t.Errorf("traceparent sent without a trace: %q", gotHeader.Get("traceparent"))
	}
}

func TestInvokeHTTPInputNull(t *testing.T) {
	t.Parallel()
	a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body) // The body has no output member: it is the output.
	}))
	inv := &platform.Invocation{TaskID: "t", Input: json.RawMessage(`null`)}
	out, err := invoke.New().Invoke(t.Context(), a, inv)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if string(got["input"]) != "null" {
		t.Errorf("input sent as %s, want null", got["input"])
	}
}

func TestInvokeHTTPOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"output member", 200, `{"output":{"a":1},"logs":["x"]}`, `{"a":1}`},
		{"output member null", 200, `{"output":null}`, `null`},
		{"object without output", 200, `{"a":1}`, `{"a":1}`},
		{"Output is not output", 200, `{"Output":1}`, `{"Output":1}`},
		{"array", 200, ` [1,2] `, `[1,2]`},
		{"string", 201, `"done"`, `"done"`},
		{"number", 202, `42`, `42`},
		{"no content", 204, ``, `null`},
		{"empty 200", 200, ``, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			out, err := invoke.New().Invoke(t.Context(), a, testInvocation())
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out); got != tt.want {
				t.Errorf("output = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestInvokeHTTPFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		retryable   bool
		contains    []string
	}{
		{"not JSON", 200, "text/html", "<html>oops</html>", false, []string{"agent echo answered with a body that is not JSON", "<html>oops</html>"}},
		{"truncated JSON", 200, "application/json", `{"output":`, false, []string{"not JSON"}},
		{"problem", 400, "application/problem+json", `{"type":"about:blank","title":"Bad Request","status":400,"detail":"text must not be empty"}`, false, []string{"agent echo answered 400 Bad Request: text must not be empty"}},
		{"error member", 422, "application/json", `{"error":"unknown language"}`, false, []string{"422 Unprocessable Entity: unknown language"}},
		{"error object", 400, "application/json", `{"error":{"message":"bad field","code":7}}`, false, []string{"400 Bad Request: bad field"}},
		{"message member", 403, "application/json", `{"message":"no"}`, false, []string{"403 Forbidden: no"}},
		{"not found", 404, "text/plain; charset=utf-8", "404 page not found\n", false, []string{"404 Not Found: 404 page not found"}},
		{"request timeout", 408, "", "", true, []string{"408 Request Timeout"}},
		{"too many requests", 429, "application/json", `{"detail":"slow down"}`, true, []string{"429 Too Many Requests: slow down"}},
		{"internal error", 500, "application/json", `{"error":"db down"}`, true, []string{"500 Internal Server Error: db down"}},
		{"unavailable", 503, "", "", true, []string{"503 Service Unavailable"}},
		{"long detail", 400, "application/json", `{"detail":"` + strings.Repeat("x", 500) + `"}`, false, []string{strings.Repeat("x", 200) + "…"}},
		{"redirect", 307, "", "", false, []string{"307 Temporary Redirect", "does not follow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				}
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			out, err := invoke.New().Invoke(t.Context(), a, testInvocation())
			if err == nil {
				t.Fatalf("output = %s, want an error", out)
			}
			ie := invocationError(t, err)
			if ie.Retryable != tt.retryable || platform.IsRetryable(err) != tt.retryable {
				t.Errorf("retryable = %v, want %v (%s)", ie.Retryable, tt.retryable, ie.Message)
			}
			if ie.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", ie.StatusCode, tt.status)
			}
			for _, s := range tt.contains {
				if !strings.Contains(ie.Message, s) {
					t.Errorf("message %q lacks %q", ie.Message, s)
				}
			}
		})
	}
}

func TestInvokeHTTPResponseLimit(t *testing.T) {
	t.Parallel()
	big := `{"output":"` + strings.Repeat("a", 100) + `"}`
	tests := []struct {
		name    string
		chunked bool
	}{{"content length", false}, {"chunked", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.chunked {
					io.WriteString(w, big[:50])
					w.(http.Flusher).Flush()
					io.WriteString(w, big[50:])
					return
				}
				w.Header().Set("Content-Length", "113")
				io.WriteString(w, big)
			}))
			c := invoke.New()
			c.MaxResponseBytes = 64
			_, err := c.Invoke(t.Context(), a, testInvocation())
			ie := invocationError(t, err)
			if ie.Retryable || ie.StatusCode != 200 || !strings.Contains(ie.Message, "more than 64 bytes") {
				t.Errorf("err = %+v, want permanent, 200, naming the 64 byte limit", ie)
			}

			c.MaxResponseBytes = int64(len(big))
			out, err := c.Invoke(t.Context(), a, testInvocation())
			if err != nil || len(out) != 102 {
				t.Errorf("at the limit: output %d bytes, err %v; want 102 bytes", len(out), err)
			}
		})
	}
}

func TestInvokeHTTPConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	a := &platform.Agent{Name: "gone", Endpoint: srv.URL}
	srv.Close()
	_, err := invoke.New().Invoke(t.Context(), a, testInvocation())
	ie := invocationError(t, err)
	if !ie.Retryable || ie.StatusCode != 0 || !strings.Contains(ie.Message, "agent gone refused the connection") {
		t.Errorf("err = %+v, want retryable, refused", ie)
	}
}

func TestInvokeHTTPUnknownHost(t *testing.T) {
	t.Parallel()
	a := &platform.Agent{Name: "nowhere", Endpoint: "http://agent.invalid/run"}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := invoke.New().Invoke(ctx, a, testInvocation())
	ie := invocationError(t, err)
	if !ie.Retryable || !strings.Contains(ie.Message, "agent nowhere") {
		t.Errorf("err = %+v, want retryable naming the agent", ie)
	}
}

// slowAgent answers only when the caller gives up.
func slowAgent(w http.ResponseWriter, r *http.Request) {
	// Until the body is read the server does not watch for the client
	// hanging up.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func TestInvokeHTTPStepTimeout(t *testing.T) {
	t.Parallel()
	a, _ := agentAt(t, "", http.HandlerFunc(slowAgent))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := invoke.New().Invoke(ctx, a, testInvocation())
	ie := invocationError(t, err)
	if !ie.Retryable || ie.Message != "agent echo did not answer within the step timeout" {
		t.Errorf("err = %+v, want retryable step timeout", ie)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestInvokeHTTPCancelled(t *testing.T) {
	t.Parallel()
	a, _ := agentAt(t, "", http.HandlerFunc(slowAgent))
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(50*time.Millisecond, func() { cancel(errors.New("run cancelled by user")) })
	_, err := invoke.New().Invoke(ctx, a, testInvocation())
	ie := invocationError(t, err)
	if ie.Retryable || !strings.Contains(ie.Message, "the call to agent echo was cancelled: run cancelled by user") {
		t.Errorf("err = %+v, want not retryable, cancelled with its cause", ie)
	}
}

// TestInvokeHTTPIdempotencyKeyPassedThrough checks that two attempts of one
// step carry the key the caller built, unchanged.
func TestInvokeHTTPIdempotencyKeyPassedThrough(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"output":1}`)
	}))
	c := invoke.New()
	inv := testInvocation()
	if _, err := c.Invoke(t.Context(), a, inv); !platform.IsRetryable(err) {
		t.Fatalf("first attempt: err = %v, want retryable", err)
	}
	if _, err := c.Invoke(t.Context(), a, inv); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] != "run-1/summarize" || keys[1] != keys[0] {
		t.Errorf("keys = %q, want the same key twice", keys)
	}
}

func TestInvokeUnknownProtocol(t *testing.T) {
	t.Parallel()
	_, err := invoke.New().Invoke(t.Context(), &platform.Agent{Name: "x", Endpoint: "http://127.0.0.1:1", Protocol: "smtp"}, testInvocation())
	if ie := invocationError(t, err); ie.Retryable || !strings.Contains(ie.Message, `protocol "smtp"`) {
		t.Errorf("err = %+v", ie)
	}
	_, err = invoke.New().Invoke(t.Context(), &platform.Agent{Name: "x"}, testInvocation())
	if ie := invocationError(t, err); ie.Retryable || !strings.Contains(ie.Message, "no endpoint") {
		t.Errorf("err = %+v", ie)
	}
}

func TestZeroClient(t *testing.T) {
	t.Parallel()
	a, _ := agentAt(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"output":"ok","ua":"`+r.UserAgent()+`"}`)
	}))
	var c invoke.Client
	out, err := c.Invoke(t.Context(), a, testInvocation())
	if err != nil || string(out) != `"ok"` {
		t.Errorf("output %s, err %v", out, err)
	}
}

func TestProbeHTTP(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	healthy := true
	var paths []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /run/health", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		if !healthy {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"down","error":"model not loaded"}`)
			return
		}
		io.WriteString(w, `{"status":"ok"}`)
	})
	a, srv := agentAt(t, "", mux)
	c := invoke.New()
	if err := c.Probe(t.Context(), a); err != nil {
		t.Errorf("healthy agent: %v", err)
	}
	slash := *a
	slash.Endpoint = srv.URL + "/run/"
	if err := c.Probe(t.Context(), &slash); err != nil {
		t.Errorf("endpoint with a trailing slash: %v", err)
	}

	mu.Lock()
	healthy = false
	mu.Unlock()
	err := c.Probe(t.Context(), a)
	ie := invocationError(t, err)
	if ie.StatusCode != 503 || ie.Message != "the health endpoint of agent echo answered 503 Service Unavailable: model not loaded" {
		t.Errorf("unhealthy agent: %+v", ie)
	}

	missing := &platform.Agent{Name: "echo", Endpoint: srv.URL + "/other"}
	if err := c.Probe(t.Context(), missing); invocationError(t, err).StatusCode != 404 {
		t.Errorf("no health endpoint: %v", err)
	}

	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	err = c.Probe(t.Context(), &platform.Agent{Name: "gone", Endpoint: gone.URL})
	if ie := invocationError(t, err); !strings.Contains(ie.Message, "refused") {
		t.Errorf("closed agent: %+v", ie)
	}

	slow, _ := agentAt(t, "", http.HandlerFunc(slowAgent))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = c.Probe(ctx, slow)
	if ie := invocationError(t, err); ie.Message != "the health endpoint of agent echo did not answer in time" {
		t.Errorf("slow agent: %+v", ie)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 3 || paths[1] != "/run/health" {
		t.Errorf("paths = %q", paths)
	}
}
