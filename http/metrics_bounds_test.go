package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	ohttp "github.com/ossa-platform/platform/http"
)

// scrape reads the gateway's /metrics.
func (g *gateway) scrape(t *testing.T) string {
	t.Helper()
	resp, b := g.do(t, "GET", "/metrics", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// series lists the series of the metrics text whose names start with one
// of prefixes: each sample's name and labels, without its value.
func series(text string, prefixes ...string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line[:strings.LastIndexByte(line, ' ')])
				break
			}
		}
	}
	return out
}

// sample is the value of the sample named with its labels (as the text
// has them: sorted), and whether there is one.
func sample(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// awaitSamples scrapes until every sample of want has its value: the
// figures the gateway counts as it sequences events come a moment after
// the change itself.
func (g *gateway) awaitSamples(t *testing.T, want map[string]float64) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		text := g.scrape(t)
		var wrong []string
		for name, v := range want {
			if got, ok := sample(text, name); !ok || got != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present %v), want %v", name, got, ok, v))
			}
		}
		if len(wrong) == 0 {
			return text
		}
		if time.Now().After(deadline) {
			slices.Sort(wrong)
			t.Fatalf("metrics never got there:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer is a log destination the server and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMetricsMethodsAreBounded sends requests with invented methods, long
// and short, and checks that they make no new series: every one is
// labelled "other", and the access log keeps only the start of a long one.
func TestMetricsMethodsAreBounded(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	g := newGateway(t, func(s *ohttp.Server) { s.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	invented := func(i int) string { return strings.Repeat("X", 1+i*97%4000) + strconv.Itoa(i) }
	paths := []string{"/api/v1/agents", "/no/such/route", "/api/v1/agents/some-agent"}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			for _, p := range paths {
				if resp, b := g.do(t, invented(i), p, "", nil); resp.StatusCode != http.StatusMethodNotAllowed &&
					resp.StatusCode != http.StatusNotFound {
					t.Fatalf("%d-byte method on %s: %d %s", len(invented(i)), p, resp.StatusCode, b)
				}
			}
		}
		g.do(t, "get", "/api/v1/agents", "", nil) // methods are case-sensitive: not GET
	}
	prefixes := []string{"http_", "ossa_http_"}
	// The first round makes every series there is to make.
	send(0, 1)
	g.scrape(t)
	before := series(g.scrape(t), prefixes...)
	send(1, 150)
	text := g.scrape(t)
	after := series(text, prefixes...)
	if !slices.Equal(after, before) {
		t.Fatalf("the series changed: %d before, %d after; new ones:\n%s", len(before), len(after),
			strings.Join(slices.DeleteFunc(after, func(s string) bool { return slices.Contains(before, s) }), "\n"))
	}
	for name, want := range map[string]float64{
		`http_requests_total{method="other",route="/api/v1/agents",status="405"}`:       150 + 2,
		`http_requests_total{method="other",route="/api/v1/agents/{ref}",status="405"}`: 150,
		`http_requests_total{method="other",route="unmatched",status="404"}`:            150,
	} {
		if got, _ := sample(text, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if strings.Contains(text, "XXXX") || len(text) > 256<<10 {
		t.Errorf("an invented method is in the metrics (%d bytes)", len(text))
	}

	// The access log has the method, cut short.
	var longest int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Msg, Method string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "request" {
			longest = max(longest, len(rec.Method))
		}
	}
	if longest == 0 || longest > 35 {
		t.Errorf("the longest method logged has %d bytes, want 1 to 35", longest)
	}
	if !strings.Contains(logs.String(), `"method":"`+strings.Repeat("X", 32)+`..."`) {
		t.Errorf("no long method logged cut short")
	}
}

// TestMetricsMethodNotAllowedKeepsRoute checks that a 405 on a route is
// counted under that route's pattern, not as unmatched.
func TestMetricsMethodNotAllowedKeepsRoute(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for _, tc := range []struct{ method, path string }{
		{"DELETE", "/api/v1/agents"},
		{"PATCH", "/api/v1/runs/0190b1b2-0000-7000-8000-000000000000"},
		{"PUT", "/metrics"},
	} {
		resp, b := g.do(t, tc.method, tc.path, "", nil)
		problemOf(t, resp, b, http.StatusMethodNotAllowed)
	}
	text := g.scrape(t)
	for _, want := range []string{
		`http_requests_total{method="DELETE",route="/api/v1/agents",status="405"} 1`,
		`http_requests_total{method="PATCH",route="/api/v1/runs/{id}",status="405"} 1`,
		`http_requests_total{method="PUT",route="/metrics",status="405"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `route="unmatched",status="405"`) {
		t.Errorf("a 405 is unmatched:\n%s", strings.Join(series(text, "http_requests_total"), "\n"))
	}
}

// TestMetricsLongLivedRequests checks that live streams and waiting
// orchestrate requests are neither in flight nor timed as requests, but
// counted open, then timed, as streams.
func TestMetricsLongLivedRequests(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	release := make(chan struct{})
	g.agent(t, "slow", "wait", func(agentCall) (int, string) {
		<-release
		return 200, `{"output":"done"}`
	})
	// Should the test fail before it releases the agent, the agent's
	// server can still close.
	var releaseOnce sync.Once
	releaseAgent := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAgent)
	body := `{"workflow": {"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "slow"},
		"spec": {"steps": [{"id": "wait", "kind": "Agent", "capability": "wait"}]}}}`

	// Open one of each: an SSE stream of all events, one of a run's, a
	// WebSocket, and an orchestrate request that waits for its run.
	_, events := g.sseStream(t, "/api/v1/events")
	resp, b := g.postJSON(t, "/api/v1/orchestrate", body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
	}
	var queued ohttp.OrchestrateAccepted
	mustUnmarshal(t, b, &queued)
	_, runEvents := g.sseStream(t, "/api/v1/runs/"+queued.RunID+"/events")
	ws := g.dialWS(t)
	waited := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", g.URL()+"/api/v1/orchestrate?wait=1m", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			waited <- 0
			return
		}
		resp.Body.Close()
		waited <- resp.StatusCode
	}()
	open := map[string]float64{
		`ossa_http_streams_open{route="/api/v1/events"}`:           1,
		`ossa_http_streams_open{route="/api/v1/runs/{id}/events"}`: 1,
		`ossa_http_streams_open{route="/ws"}`:                      1,
		`ossa_http_streams_open{route="/api/v1/orchestrate"}`:      1,
		// The scrape alone.
		`http_requests_in_flight`: 1,
	}
	g.awaitSamples(t, open)

	// All end: each is timed as a stream once, and counted as a request.
	releaseAgent()
	if code := <-waited; code != http.StatusOK {
		t.Fatalf("orchestrate with wait: %d", code)
	}
	events.Body.Close()
	runEvents.Body.Close()
	ws.c.Close(websocket.StatusNormalClosure, "")
	for name := range open {
		open[name] = 0
	}
	open[`http_requests_in_flight`] = 1
	for _, route := range []string{"/api/v1/events", "/api/v1/runs/{id}/events", "/ws", "/api/v1/orchestrate"} {
		open[`ossa_http_stream_duration_seconds_count{route="`+route+`"}`] = 1
	}
	text := g.awaitSamples(t, open)
	for name, want := range map[string]float64{
		`http_requests_total{method="GET",route="/api/v1/events",status="200"}`:           1,
		`http_requests_total{method="GET",route="/api/v1/runs/{id}/events",status="200"}`: 1,
		`http_requests_total{method="GET",route="/ws",status="101"}`:                      1,
		`http_requests_total{method="POST",route="/api/v1/orchestrate",status="200"}`:     1,
		`http_requests_total{method="POST",route="/api/v1/orchestrate",status="202"}`:     1,
		// Only the orchestrate request without a wait is timed as a request.
		`http_request_duration_seconds_count{method="POST",route="/api/v1/orchestrate"}`: 1,
	} {
		if got, _ := sample(text, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, route := range []string{"/api/v1/events", "/api/v1/runs/{id}/events", "/ws"} {
		if _, ok := sample(text, `http_request_duration_seconds_count{method="GET",route="`+route+`"}`); ok {
			t.Errorf("the stream on %s is timed as a request", route)
		}
	}
}
