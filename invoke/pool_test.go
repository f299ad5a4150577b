package invoke

import (
	"bufio"
	"context"
	"errors"
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
// to 256 per agent, with no limit across agents.
func TestNewIdleSettings(t *testing.T) {
	t.Parallel()
	tr := New().HTTP.Transport.(*http.Transport)
	if tr.IdleConnTimeout != IdleConnTimeout || tr.MaxIdleConnsPerHost != 256 || tr.MaxIdleConns != 0 {
		t.Errorf("idle timeout %v, max idle %d per host, %d in all; want %v, 256, no limit", tr.IdleConnTimeout, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, IdleConnTimeout)
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

// A kept connection that the agent closes as the next call arrives, before
// answering it, is how an idle timeout on the agent's side meets a call:
// the call is sent again on a new connection when it carries an
// Idempotency-Key, and fails, retryably, when it does not.
func TestTransportResendsWhenKeptConnectionDies(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	// On each connection the agent answers the first request and closes
	// the connection when the second arrives.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if i == 1 {
						return
					}
					body := `{"output":"ok"}`
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}()
		}
	}()
	a := &platform.Agent{Name: "a", Endpoint: "http://" + ln.Addr().String()}
	c := New()
	for i := range 3 {
		if out, err := call(t, c, a, 5*time.Second); err != nil || string(out) != `"ok"` {
			t.Fatalf("call %d: %s, %v", i, out, err)
		}
	}
	// Calls 2 and 3 each met a kept connection that died: 1 + 2 + 2.
	if n := requests.Load(); n != 5 {
		t.Errorf("the agent got %d requests for 3 calls, want 5", n)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = c.Invoke(ctx, a, &platform.Invocation{TaskID: "t"}) // no Idempotency-Key
	var ie *platform.InvocationError
	if !errors.As(err, &ie) || !ie.Retryable || !strings.Contains(ie.Message, "closed the connection before it finished answering") {
		t.Errorf("a call without an Idempotency-Key on a dying connection: %v, want a retryable failure", err)
	}
}
