package invoke

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// Connections idle for longer than the idle timeout are closed by the
// gateway, not left open until the next call.
func TestTransportClosesIdleConnections(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 8)
	var opened int
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"output":1}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			mu.Lock()
			opened++
			mu.Unlock()
		case http.StateClosed:
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	a := &platform.Agent{Name: "a", Endpoint: srv.URL}
	c := &Client{HTTP: newHTTPClient(newDialer(nil), 50*time.Millisecond)}
	for i := range 2 {
		if _, err := call(t, c, a, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: its connection is still open 10 s after it went idle", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if opened != 2 {
		t.Errorf("the agent saw %d connections, want 2: the first was closed while idle", opened)
	}
}

// New's client closes idle connections after IdleConnTimeout and keeps up
// to 256 per agent.
func TestNewIdleSettings(t *testing.T) {
	t.Parallel()
	switch tr := New().HTTP.Transport.(type) {
	case *transport:
		if tr.idleTimeout != IdleConnTimeout || tr.maxIdle != 256 {
			t.Errorf("idle timeout %v, max idle %d; want %v, 256", tr.idleTimeout, tr.maxIdle, IdleConnTimeout)
		}
	case *http.Transport:
		if tr.IdleConnTimeout != IdleConnTimeout || tr.MaxIdleConnsPerHost != 256 || tr.MaxIdleConns != 0 {
			t.Errorf("idle timeout %v, max idle %d per host, %d in all; want %v, 256, no limit", tr.IdleConnTimeout, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, IdleConnTimeout)
		}
	}
	if IdleConnTimeout != 90*time.Second {
		t.Errorf("IdleConnTimeout = %v, docs/agent-protocol.md says 90 s", IdleConnTimeout)
	}
}

// HTTP_PROXY is not used: an agent is called directly, or not at all.
// The agent's host does not resolve, so a client that used the proxy would
// have reached it, and one that does not gets a resolution failure.
func TestTransportIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		fmt.Fprint(w, `{"output":"proxied"}`)
	}))
	t.Cleanup(proxy.Close)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	_, err := call(t, New(), &platform.Agent{Name: "a", Endpoint: "http://agent.invalid/run"}, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), `its host "agent.invalid" could not be resolved`) {
		t.Errorf("err = %v, want the host unresolved", err)
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("the proxy got %d requests, want none", n)
	}
}
