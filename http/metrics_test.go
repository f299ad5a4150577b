package http_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ossa-platform/platform/ossatest"
)

func TestAgentCallMetrics(t *testing.T) {
	t.Parallel()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Idempotency-Key"), "fail") {
			http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"output":1}`)
	}))
	t.Cleanup(agent.Close)
	// The platform counts the engine's agent calls on its registry.
	srv := ossatest.Start(t).Gateway
	post := func(path, key, body string) int {
		code, _ := postJSON(t, srv.URL()+path, key, body)
		return code
	}
	if got := post("/api/v1/agents", "", `{"name":"counted","type":"worker","endpoint":"`+agent.URL+`"}`); got != 201 {
		t.Fatalf("register: %d", got)
	}
	if got := post("/api/v1/agents/counted/execute", "", `{}`); got != 200 {
		t.Fatalf("execute: %d", got)
	}
	if got := post("/api/v1/agents/counted/execute", "fail-1", `{}`); got != 502 {
		t.Fatalf("failing execute: %d", got)
	}
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ossa_agent_calls_total{agent="counted",outcome="ok"} 1`,
		`ossa_agent_calls_total{agent="counted",outcome="retryable"} 1`,
		`ossa_agent_call_duration_seconds_count{agent="counted"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
