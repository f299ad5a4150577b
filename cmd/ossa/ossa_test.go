package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/auth"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/testenv"
)

// newConfig is the default configuration on a free port and a fresh data
// directory.
func newConfig(t *testing.T) Config {
	t.Helper()
	t.Chdir(t.TempDir())
	c, err := LoadConfig([]string{"--port", "0", "--host", "127.0.0.1", "--data-dir", t.TempDir(), "--auth", "none"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openMain runs Main as `ossa serve` does and closes it at the end.
func openMain(t *testing.T, c Config) *Main {
	t.Helper()
	m := NewMain(c, io.Discard)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func TestRestartKeepsRegistry(t *testing.T) {
	c := newConfig(t)
	ctx := context.Background()
	m := openMain(t, c)
	created, err := ohttp.NewClient(m.Server.URL()).CreateAgent(ctx, ohttp.AgentInput{
		Name: "summarizer", Type: platform.AgentWorker, Capabilities: []string{"summarize"}, Endpoint: "http://localhost:9001",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}

	m = openMain(t, c)
	got, err := ohttp.NewClient(m.Server.URL()).GetAgent(ctx, "summarizer")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != created.ID || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("after restart: %+v, want %+v", got, created)
	}
}

// TestReplicasRaceOnOneName starts two gateways on one PostgreSQL database
// and registers one name on both at once: exactly one registration wins,
// every other is a 409.
func TestReplicasRaceOnOneName(t *testing.T) {
	c := newConfig(t)
	_, _, c.PostgresURL = testenv.PostgresSchema(t)
	a, b := openMain(t, c), openMain(t, c)
	clients := []*ohttp.Client{ohttp.NewClient(a.Server.URL()), ohttp.NewClient(b.Server.URL())}

	const attempts = 16
	var wg sync.WaitGroup
	results := make([]error, attempts)
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = clients[i%2].CreateAgent(context.Background(), ohttp.AgentInput{
				Name: "contended", Type: platform.AgentWorker, Endpoint: fmt.Sprintf("http://localhost:%d", 9000+i),
			})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch p, _ := err.(*ohttp.Problem); {
		case err == nil:
			won++
		case p != nil && p.Status == http.StatusConflict:
		default:
			t.Errorf("unexpected result: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d registrations won, want 1", won)
	}
	list, err := clients[1].ListAgents(context.Background(), ohttp.AgentQuery{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list after race: %v %v", list, err)
	}
}

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningURL waits for `ossa serve` to log where it listens.
func listeningURL(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	// Generous: a loaded CI machine may take seconds to migrate and bind.
	for range 3000 {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway listening" {
				return line.URL
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the gateway did not start: %s", logs.String())
	return ""
}

// TestServeDrainsOnSignal starts `ossa serve`, begins a request whose body
// arrives slowly, signals shutdown mid-request, and checks that the request
// still completes before serve returns 0.
func TestServeDrainsOnSignal(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	ctx, signal := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir}, io.Discard, logs, env(nil))
	}()
	url := listeningURL(t, logs)
	// Authentication is on, as by default: the admin key of the first
	// start is in the data directory.
	key, err := auth.ReadKeyFile(dir)
	if err != nil || key == "" {
		t.Fatalf("no admin key in the data directory: %q, %v", key, err)
	}

	body, writer := io.Pipe()
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/agents", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight request failed: %v", err)
			close(done)
			return
		}
		done <- resp
	}()
	io.WriteString(writer, `{"name":"late","type":"worker",`)
	time.Sleep(100 * time.Millisecond) // the request is in flight
	signal()
	time.Sleep(100 * time.Millisecond)
	select {
	case code := <-exit:
		t.Fatalf("serve exited (%d) with a request in flight", code)
	default:
	}
	io.WriteString(writer, `"endpoint":"http://localhost:9001"}`)
	writer.Close()
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: %v", resp)
	}
	if code := <-exit; code != 0 {
		t.Fatalf("serve exited %d; logs %s", code, logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no orderly stop in logs: %s", logs.String())
	}
}

func TestServeInvalidConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, io.Discard, &stderr, env(map[string]string{"SERVICE_PORT": "99999"}))
	if code != 2 || !strings.Contains(stderr.String(), "SERVICE_PORT") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestRequestLogs checks the access log: JSON, one line per request, with
// the route and request ID, and never the Authorization header or query.
func TestRequestLogs(t *testing.T) {
	c := newConfig(t)
	logs := &syncBuffer{}
	m := NewMain(c, logs)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	req, _ := http.NewRequest("GET", m.Server.URL()+"/api/v1/agents?capability=s3cret", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("X-Request-ID", "req-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m.Close(context.Background())
	if strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("a secret was logged: %s", logs.String())
	}
	var found bool
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line["msg"] == "request" && line["request_id"] == "req-1" {
			found = line["route"] == "/api/v1/agents" && line["status"] == float64(200) && line["method"] == "GET"
		}
	}
	if !found {
		t.Fatalf("no request line: %s", logs.String())
	}
}

// TestHealthWithRedis checks /health against a real Redis, and degraded
// (still 200) when the configured Redis does not answer.
func TestHealthWithRedis(t *testing.T) {
	url := testenv.RedisURL(t)
	for _, tt := range []struct{ redisURL, status, redis string }{
		{url, "healthy", "connected"},
		{"redis://127.0.0.1:1/0", "degraded", "down"},
	} {
		c := newConfig(t)
		c.RedisURL = tt.redisURL
		m := openMain(t, c)
		// Redis is checked within 150 ms; on a loaded machine the first
		// check (which dials) may miss that, so a reachable Redis is asked
		// again until it answers in time.
		var h *ohttp.Health
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var err error
			if h, err = ohttp.NewClient(m.Server.URL()).Health(context.Background()); err != nil {
				t.Fatal(err)
			}
			if h.Status == tt.status || time.Now().After(deadline) {
				break
			}
		}
		if h.Status != tt.status || h.Services["redis"] != tt.redis || h.Dependencies.Redis.Status != tt.redis || h.Services["sqlite"] != "connected" {
			t.Fatalf("REDIS_URL=%s: %+v", tt.redisURL, h)
		}
	}
}
