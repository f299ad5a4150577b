package http

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestPanicBecomesProblem checks that a panicking handler answers a 500
// problem and the server goes on serving.
func TestPanicBecomesProblem(t *testing.T) {
	s := &Server{Logger: slog.New(slog.DiscardHandler)}
	s.Handler()
	s.handle("GET /boom", anyScope, func(w http.ResponseWriter, r *http.Request) error { panic("boom") })
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 500 || p.Status != 500 || p.Detail != "internal error" {
		t.Fatalf("panic: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a panic: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := s.metrics.requests.WithLabelValues("GET", "/boom", "500"); testutil.ToFloat64(got) != 1 {
		t.Fatal("the 500 was not counted")
	}
}
