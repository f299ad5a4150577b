package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// lookup is a tiny second service: GET /agents/{name} answers an agent
// from the platform's store, and GET /wait waits for the test's word.
// Its requests are counted on the platform's registry.
type lookup struct {
	addr     string        // where it listens; port 0 picks one
	waiting  chan struct{} // a request reached /wait
	release  chan struct{} // /wait answers
	shutdown chan struct{} // closed as Shutdown begins

	shared *serve.Shared
	srv    *http.Server
	ln     net.Listener
}

func newLookup(addr string) *lookup {
	return &lookup{addr: addr, waiting: make(chan struct{}, 1), release: make(chan struct{}), shutdown: make(chan struct{})}
}

func (l *lookup) Name() string { return "lookup" }

func (l *lookup) Open(ctx context.Context, sh *serve.Shared) error {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ossa_lookup_requests_total",
		Help: "Requests the lookup service answered, by route.",
	}, []string{"route"})
	if err := sh.Registry.Register(requests); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agents/{name}", func(w http.ResponseWriter, r *http.Request) {
		requests.WithLabelValues("/agents/{name}").Inc()
		a, err := sh.Store.FindAgent(r.Context(), platform.DefaultNamespace, r.PathValue("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(a)
	})
	mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
		requests.WithLabelValues("/wait").Inc()
		l.waiting <- struct{}{}
		<-l.release
		io.WriteString(w, "released")
	})
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", l.addr, err)
	}
	l.shared, l.ln = sh, ln
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	l.srv.RegisterOnShutdown(func() { close(l.shutdown) })
	go l.srv.Serve(ln)
	sh.Logger.Info("lookup listening", "url", l.URL())
	return nil
}

func (l *lookup) URL() string { return "http://" + l.ln.Addr().String() }

func (l *lookup) Shutdown(ctx context.Context) error { return l.srv.Shutdown(ctx) }

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestSecondService hosts a second service beside the gateway, on its own
// port with its own routes: it reads, through the one store handle, an
// agent registered through the gateway; it logs on the platform's logger;
// its series are on the gateway's /metrics; and one shutdown drains the
// requests in flight on both.
func TestSecondService(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	svc := newLookup("127.0.0.1:0")
	p := ossatest.Start(t, ossatest.WithService(svc), ossatest.WithLogs(logs))
	if svc.URL() == p.URL {
		t.Fatalf("the service shares the gateway's address %s", p.URL)
	}
	if svc.shared.Store != p.Store {
		t.Fatal("the service has a store of its own")
	}

	release := make(chan struct{})
	called := make(chan struct{}, 1)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- struct{}{}
		<-release
		io.WriteString(w, `{"output":"late"}`)
	}))
	t.Cleanup(agent.Close)
	created, err := p.Client.CreateAgent(context.Background(), ohttp.AgentInput{
		Name: "slow", Type: platform.AgentWorker, Capabilities: []string{"wait"}, Endpoint: agent.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	status, body := get(t, svc.URL()+"/agents/slow")
	var got platform.Agent
	if status != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.ID != created.ID {
		t.Fatalf("the service's GET /agents/slow: %d %s, want agent %s", status, body, created.ID)
	}
	// Each has its own routes.
	if status, body := get(t, svc.URL()+"/api/v1/agents"); status != http.StatusNotFound {
		t.Fatalf("the gateway's route on the service: %d %s", status, body)
	}
	if status, body := get(t, p.URL+"/agents/slow"); status != http.StatusNotFound {
		t.Fatalf("the service's route on the gateway: %d %s", status, body)
	}
	_, metrics := get(t, p.URL+"/metrics")
	if !strings.Contains(metrics, `ossa_lookup_requests_total{route="/agents/{name}"} 1`) ||
		!strings.Contains(metrics, `http_requests_total{method="POST",route="/api/v1/agents",status="201"} 1`) {
		t.Fatalf("the gateway's /metrics lacks the service's or its own requests:\n%s", metrics)
	}
	if line := logLine(logs.String(), "lookup listening"); line["url"] != svc.URL() {
		t.Fatalf("the service's start on the platform's logger: %v in\n%s", line, logs.String())
	}

	// A request in flight on each, then one shutdown.
	answers := make(chan string, 2)
	go func() {
		exec, err := p.Client.Execute(context.Background(), "slow", platform.ExecuteRequest{Input: []byte(`{}`)})
		if err != nil {
			answers <- "gateway: " + err.Error()
			return
		}
		answers <- "gateway: " + string(exec.Output)
	}()
	go func() {
		resp, err := http.Get(svc.URL() + "/wait")
		if err != nil {
			answers <- "lookup: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers <- fmt.Sprintf("lookup: %d %s", resp.StatusCode, b)
	}()
	<-called
	<-svc.waiting
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	<-svc.shutdown
	gatewayAddr := strings.TrimPrefix(p.URL, "http://")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		conn, err := net.Dial("tcp", gatewayAddr)
		if err != nil {
			break // the gateway stopped accepting: it is draining
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the gateway still accepts connections during the shutdown")
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("the platform closed (%v) with requests in flight", err)
	default:
	}
	close(release)
	close(svc.release)
	want := map[string]bool{`gateway: "late"`: true, "lookup: 200 released": true}
	for range 2 {
		if a := <-answers; !want[a] {
			t.Errorf("an answer during the shutdown: %s", a)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, u := range []string{p.URL, svc.URL()} {
		if conn, err := net.Dial("tcp", strings.TrimPrefix(u, "http://")); err == nil {
			conn.Close()
			t.Errorf("%s still answers after the shutdown", u)
		}
	}
}

// TestServiceThatCannotStart checks that a service that cannot open stops
// the platform's start with its error, and that what had started (the
// gateway) is closed.
func TestServiceThatCannotStart(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	logs := &syncBuffer{}
	p, err := ossatest.Open(context.Background(), ossatest.WithService(newLookup(busy.Addr().String())), ossatest.WithLogs(logs))
	if err == nil {
		p.Close()
		t.Fatal("the platform started with the service's port in use")
	}
	if !strings.Contains(err.Error(), "listen on "+busy.Addr().String()) {
		t.Fatalf("error %q does not name the address", err)
	}
	gateway, _ := logLine(logs.String(), "gateway listening")["url"].(string)
	if gateway == "" {
		t.Fatalf("the gateway did not start first:\n%s", logs.String())
	}
	if conn, err := net.Dial("tcp", strings.TrimPrefix(gateway, "http://")); err == nil {
		conn.Close()
		t.Fatalf("the gateway %s still answers", gateway)
	}
}

// syncBuffer is a bytes.Buffer safe to write from the platform's
// goroutines while the test reads it.
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

// logLine is the first JSON log line of logs whose message is msg, or nil.
func logLine(logs, msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			return line
		}
	}
	return nil
}
