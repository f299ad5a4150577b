package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// request is the body the gateway POSTs for every call: one attempt of a
// workflow step, or one direct execute call. Every member is always
// present (docs/agent-protocol.md, "The request").
type request struct {
	TaskID     string          `json:"task_id"`
	RunID      string          `json:"run_id"` // "" for a direct execute call
	Step       string          `json:"step"`   // the step's path in the workflow, "" for a direct call
	Capability string          `json:"capability"`
	Input      json.RawMessage `json:"input"`
	Context    struct {
		Workflow  string         `json:"workflow"`
		Attempt   int            `json:"attempt"`
		Variables map[string]any `json:"variables"`
	} `json:"context"`
}

// response is the answer: the gateway takes the step's output from the
// "output" member and ignores any other.
type response struct {
	Output any `json:"output"`
}

// capability does the work of one capability: it reads the call's input
// and returns the output, or a *badInput when the input is wrong.
type capability func(input json.RawMessage) (any, error)

// capabilities are what this agent can do, by the names its manifests
// declare (examples/agents/).
var capabilities = map[string]capability{
	"summarize": summarize,
	"fetch":     fetch,
	"review":    review,
}

func capabilityNames() []string {
	names := make([]string, 0, len(capabilities))
	for name := range capabilities {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// badInput is a call the agent cannot serve as it is: answered 400, which
// the gateway treats as a permanent failure (no retry).
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

func badInputf(format string, args ...any) error {
	return &badInput{msg: fmt.Sprintf(format, args...)}
}

// maxRequestBytes bounds a call's body; the gateway's own limit on the
// answer is larger (10 MiB by default).
const maxRequestBytes = 1 << 20

// agent serves the contract: POST / for calls, GET /health for probes.
type agent struct {
	answers *answers
}

func newAgent() *agent {
	return &agent{answers: newAnswers(10_000)}
}

func (a *agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.handleHealth)
	mux.HandleFunc("POST /{$}", a.handleCall)
	return mux
}

// handleHealth handles "GET /health": the gateway probes it every
// OSSA_AGENT_HEALTH_INTERVAL, and any 2xx means healthy.
func (a *agent) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "capabilities": capabilityNames()})
}

// handleCall handles "POST /": one call of a capability.
//
// The gateway sends the same Idempotency-Key for every attempt of one step
// of one run (and a retry may follow an attempt whose answer was lost), so
// the agent remembers each key's answer and gives it again instead of doing
// the work twice. This agent's work has no side effects, but an agent that
// writes, posts or pays must do this, and this is how.
func (a *agent) handleCall(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		status, body := a.call(r)
		write(w, status, body)
		return
	}
	ans, first := a.answers.claim(key)
	if !first {
		// Another call with this key answered, or is answering: wait for
		// its answer rather than work at the same time.
		select {
		case <-ans.ready:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		write(w, ans.status, ans.body)
		return
	}
	ans.status, ans.body = a.call(r)
	a.answers.done(key, ans)
	write(w, ans.status, ans.body)
}

// call decodes the request, runs its capability and encodes the answer.
func (a *agent) call(r *http.Request) (status int, body []byte) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	switch {
	case err != nil:
		return problem(http.StatusBadRequest, "reading the request: "+err.Error())
	case len(b) > maxRequestBytes:
		return problem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than %d bytes", maxRequestBytes))
	}
	var req request
	if err := json.Unmarshal(b, &req); err != nil {
		return problem(http.StatusBadRequest, "the request is not a JSON object: "+err.Error())
	}
	do, ok := capabilities[req.Capability]
	if !ok {
		if req.Capability == "" {
			return problem(http.StatusBadRequest, "no capability asked for: name one of "+strings.Join(capabilityNames(), ", "))
		}
		return problem(http.StatusBadRequest, fmt.Sprintf("unknown capability %q: this agent has %s", req.Capability, strings.Join(capabilityNames(), ", ")))
	}
	out, err := do(req.Input)
	var bad *badInput
	switch {
	case errors.As(err, &bad):
		return problem(http.StatusBadRequest, bad.msg)
	case err != nil:
		// A 5xx is retryable: the gateway tries again, with the same key.
		return problem(http.StatusInternalServerError, err.Error())
	}
	if b, err = json.Marshal(response{Output: out}); err != nil {
		return problem(http.StatusInternalServerError, err.Error())
	}
	return http.StatusOK, b
}

// problem is an error answer as RFC 9457 problem+json: the gateway quotes
// its detail in the step's error.
func problem(status int, detail string) (int, []byte) {
	b, _ := json.Marshal(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail,
	})
	return status, b
}

func write(w http.ResponseWriter, status int, body []byte) {
	if status >= 400 {
		w.Header().Set("Content-Type", "application/problem+json")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	write(w, status, buf.Bytes())
}

// answers remembers the answers given, by Idempotency-Key: the newest max
// of them, which covers the retries of any run in flight.
type answers struct {
	mu    sync.Mutex
	byKey map[string]*answer
	order []string // keys oldest first, to forget beyond max
	max   int
}

// answer is one key's answer; ready is closed once status and body are set.
type answer struct {
	ready  chan struct{}
	status int
	body   []byte
}

func newAnswers(max int) *answers {
	return &answers{byKey: map[string]*answer{}, max: max}
}

// claim returns key's answer, and whether the caller is the first with the
// key and so must produce the answer and hand it to done.
func (m *answers) claim(key string) (ans *answer, first bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ans, ok := m.byKey[key]; ok {
		return ans, false
	}
	ans = &answer{ready: make(chan struct{})}
	m.byKey[key] = ans
	m.order = append(m.order, key)
	if len(m.order) > m.max {
		delete(m.byKey, m.order[0])
		m.order = m.order[1:]
	}
	return ans, true
}

// done publishes the answer to the callers waiting for it. A failure is
// not kept: the work did not happen, so a later retry must do it.
func (m *answers) done(key string, ans *answer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ans.status >= 300 && m.byKey[key] == ans {
		delete(m.byKey, key)
	}
	close(ans.ready)
}
