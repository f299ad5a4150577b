package ossatest_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// register creates an agent at endpoint through p's gateway.
func register(t *testing.T, p *ossatest.Platform, name, endpoint string) *platform.Agent {
	t.Helper()
	a, err := p.Client.CreateAgent(context.Background(), ohttp.AgentInput{
		Name: name, Type: platform.AgentWorker, Capabilities: []string{"work"}, Endpoint: endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStart checks the defaults: the real gateway on a loopback port,
// over the embedded store it returns, with the engine executing.
func TestStart(t *testing.T) {
	t.Parallel()
	p := ossatest.Start(t)
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") || p.Gateway.URL() != p.URL || p.Client.BaseURL != p.URL {
		t.Fatalf("URL %s, gateway %s, client %s", p.URL, p.Gateway.URL(), p.Client.BaseURL)
	}
	if p.Store.Backend() != "sqlite" || p.Main.Config.AgentHealthInterval != 0 || p.Main.Config.RateLimit != 0 {
		t.Fatalf("backend %s, config %+v", p.Store.Backend(), p.Main.Config)
	}
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"output":"done"}`))
	}))
	t.Cleanup(agent.Close)
	created := register(t, p, "worker", agent.URL)
	stored, err := p.Store.FindAgent(context.Background(), platform.DefaultNamespace, "worker")
	if err != nil || stored.ID != created.ID {
		t.Fatalf("stored %+v, %v; created %+v", stored, err, created)
	}
	exec, err := p.Client.Execute(context.Background(), "worker", platform.ExecuteRequest{Input: []byte(`{}`)})
	if err != nil || string(exec.Output) != `"done"` {
		t.Fatalf("execute: %+v, %v", exec, err)
	}
}

// TestStartPostgres runs the platform on PostgreSQL.
func TestStartPostgres(t *testing.T) {
	t.Parallel()
	p := ossatest.Start(t, ossatest.WithPostgres())
	if p.Store.Backend() != "postgres" {
		t.Fatalf("backend %s", p.Store.Backend())
	}
	register(t, p, "worker", "http://127.0.0.1:1")
	if _, err := p.Store.FindAgent(context.Background(), platform.DefaultNamespace, "worker"); err != nil {
		t.Fatal(err)
	}
}

// TestOptionsApplyInOrder checks that WithConfig, WithEngine and
// WithGateway reach the platform, the engine's and the gateway's after the
// configuration: the engine's step timeout wins over the configuration's.
func TestOptionsApplyInOrder(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(agent.Close)
	t.Cleanup(func() { close(release) })
	p := ossatest.Start(t,
		ossatest.WithConfig(func(c *serve.Config) { c.StepTimeout = time.Hour }),
		ossatest.WithEngine(func(c *engine.Config) { c.StepTimeout = 50 * time.Millisecond }),
		ossatest.WithGateway(func(s *ohttp.Server) { s.CORSOrigins = []string{"https://ui.example"} }))
	register(t, p, "silent", agent.URL)
	_, err := p.Client.Execute(context.Background(), "silent", platform.ExecuteRequest{Input: []byte(`{}`)})
	var prob *ohttp.Problem
	if !errors.As(err, &prob) || prob.Status != http.StatusGatewayTimeout {
		t.Fatalf("execute of a silent agent: %v, want a 504", err)
	}
	req, _ := http.NewRequest("GET", p.URL+"/api/v1/agents", nil)
	req.Header.Set("Origin", "https://ui.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://ui.example" {
		t.Fatalf("Access-Control-Allow-Origin = %q", got)
	}
}

// TestWithStore runs two platforms over one database, as replicas: what
// one registers, the other serves; closing them leaves the store open.
func TestWithStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbA, dbB := ossatest.SQLiteAt(t, dir), ossatest.SQLiteAt(t, dir)
	a, b := ossatest.Start(t, ossatest.WithStore(dbA)), ossatest.Start(t, ossatest.WithStore(dbB))
	register(t, a, "shared", "http://127.0.0.1:1")
	if _, err := b.Client.GetAgent(context.Background(), "shared"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dbA.Ping(context.Background()); err != nil {
		t.Fatalf("the given store was closed: %v", err)
	}
}

// TestClose checks that Close stops the gateway and closes the store it
// opened, and that a second Close returns what the first did.
func TestClose(t *testing.T) {
	t.Parallel()
	p := ossatest.Start(t)
	addr := strings.TrimPrefix(p.URL, "http://")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatalf("the gateway still answers on %s", addr)
	}
	if err := p.Store.Ping(context.Background()); err == nil {
		t.Fatal("the store is still open")
	}
}

// TestOpenFails checks what Open says when the platform cannot start, and
// that it leaves nothing behind: WithPostgres outside a test, and a port
// in use.
func TestOpenFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if p, err := ossatest.Open(ctx, ossatest.WithPostgres()); err == nil || !strings.Contains(err.Error(), "WithConfig") {
		t.Fatalf("WithPostgres outside a test: %v, %v", p, err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var dir string
	p, err := ossatest.Open(ctx, ossatest.WithConfig(func(c *serve.Config) {
		c.Port = busy.Addr().(*net.TCPAddr).Port
		dir = c.DataDir
	}))
	if err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:") {
		t.Fatalf("a port in use: %v, %v", p, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory %s is left behind: %v", dir, err)
	}
}
