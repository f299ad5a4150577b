package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/sqlite"
)

// gateway is a real server on a free port over a real SQLite store.
type gateway struct {
	*ohttp.Server
	db *sqlite.DB
}

func newGateway(t *testing.T, configure ...func(*ohttp.Server)) *gateway {
	t.Helper()
	db := ossatest.SQLite(t)
	return &gateway{Server: ossatest.Start(t, ossatest.WithStore(db), ossatest.WithGateway(configure...)).Gateway, db: db}
}

// do sends a request and returns the response with its body read.
func (g *gateway) do(t *testing.T, method, path, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, method, g.URL()+path, contentType, body, headers...)
}

// send sends a request to url with headers (name, value, ...) and returns
// the response with its body read.
func send(t *testing.T, method, url, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (g *gateway) postJSON(t *testing.T, path, body string) (*http.Response, []byte) {
	t.Helper()
	return g.do(t, http.MethodPost, path, "application/json", []byte(body))
}

// register creates an agent through the API and returns it.
func (g *gateway) register(t *testing.T, body string) *platform.Agent {
	t.Helper()
	resp, b := g.postJSON(t, "/api/v1/agents", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	var a platform.Agent
	mustUnmarshal(t, b, &a)
	return &a
}

// snapshot is every stored agent, as JSON, read straight from the store.
func (g *gateway) snapshot(t *testing.T) string {
	t.Helper()
	page, err := g.db.ListAgents(context.Background(), platform.AgentFilter{Namespace: platform.DefaultNamespace, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(page.Items)
	return string(b)
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// problemOf checks that a response is a problem with the status and
// returns it.
func problemOf(t *testing.T, resp *http.Response, body []byte, status int) *ohttp.Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var raw map[string]json.RawMessage
	mustUnmarshal(t, body, &raw)
	for _, m := range []string{"type", "title", "status", "detail", "instance", "errors"} {
		if _, ok := raw[m]; !ok {
			t.Fatalf("problem lacks %q: %s", m, body)
		}
	}
	var p ohttp.Problem
	mustUnmarshal(t, body, &p)
	if p.Status != status || !strings.HasPrefix(p.Type, ohttp.ProblemTypePrefix) || p.Title == "" || p.Detail == "" || p.Instance == "" {
		t.Fatalf("problem incomplete: %s", body)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("problem request_id %q, header %q", p.RequestID, resp.Header.Get("X-Request-ID"))
	}
	return &p
}

// problemNaming checks that the answer is a problem with status whose detail
// holds detail and which names every field of want; it returns the problem
// and its fields by name.
func problemNaming(t *testing.T, resp *http.Response, body []byte, status int, detail string, want []string) (*ohttp.Problem, map[string]string) {
	t.Helper()
	p := problemOf(t, resp, body, status)
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("detail %q lacks %q", p.Detail, detail)
	}
	got := fields(p)
	for _, f := range want {
		if _, ok := got[f]; !ok {
			t.Errorf("problem does not name %s: %s", f, body)
		}
	}
	return p, got
}

// postJSON posts body to url with an Idempotency-Key when key is set, and
// returns the status and the body of the answer.
func postJSON(t *testing.T, url, key, body string) (int, string) {
	t.Helper()
	var headers []string
	if key != "" {
		headers = []string{"Idempotency-Key", key}
	}
	resp, b := send(t, http.MethodPost, url, "application/json", []byte(body), headers...)
	return resp.StatusCode, string(b)
}

func fields(p *ohttp.Problem) map[string]string {
	out := map[string]string{}
	for _, e := range p.Errors {
		out[e.Field] = e.Message
	}
	return out
}
