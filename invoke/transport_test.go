package invoke

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// countingAgent serves handler and counts the connections opened to it.
func countingAgent(t *testing.T, handler http.HandlerFunc) (*platform.Agent, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &platform.Agent{Name: "a", Endpoint: srv.URL}, &conns
}

// rawAgent serves each connection to it with answer, which gets the first
// request read from it, and returns the agent. It speaks HTTP by hand, for
// what a real server would not do.
func rawAgent(t *testing.T, answer func(conn net.Conn, req *http.Request)) *platform.Agent {
	t.Helper()
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
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				answer(conn, req)
			}()
		}
	}()
	return &platform.Agent{Name: "a", Endpoint: "http://" + ln.Addr().String()}
}

func call(t *testing.T, c *Client, a *platform.Agent, timeout time.Duration) (json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return c.Invoke(ctx, a, &platform.Invocation{TaskID: "t", Input: json.RawMessage(`{}`), IdempotencyKey: "k"})
}

func TestTransportKeepsConnections(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"output":1}`)
	})
	c := New()
	for range 20 {
		if out, err := call(t, c, a, 5*time.Second); err != nil || string(out) != "1" {
			t.Fatalf("Invoke = %s, %v", out, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 calls in turn opened %d connections, want 1", n)
	}
}

// A call cut off by its deadline, or whose answer is not read to the end,
// leaves its connection closed, not back in the pool for the next call.
func TestTransportDropsConnectionsItCannotReuse(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.Header.Get("Idempotency-Key") {
		case "slow":
			time.Sleep(300 * time.Millisecond)
		case "large":
			fmt.Fprintf(w, `{"output":"%s"}`, strings.Repeat("x", 4096))
			return
		}
		fmt.Fprint(w, `{"output":1}`)
	})
	c := New()
	c.MaxResponseBytes = 1024
	invoke := func(key string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Invoke(ctx, a, &platform.Invocation{TaskID: "t", IdempotencyKey: key})
		return err
	}
	if err := invoke("fast"); err != nil {
		t.Fatal(err)
	}
	if err := invoke("slow"); err == nil || !strings.Contains(err.Error(), "did not answer within the step timeout") {
		t.Fatalf("slow call: %v, want the step timeout", err)
	}
	if err := invoke("fast"); err != nil {
		t.Fatalf("after a timed-out call: %v", err)
	}
	if err := invoke("large"); err == nil || !strings.Contains(err.Error(), "more than 1024 bytes") {
		t.Fatalf("large answer: %v, want the size limit", err)
	}
	if err := invoke("fast"); err != nil {
		t.Fatalf("after a large answer: %v", err)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3: the first, a new one after the timeout, another after the large answer", n)
	}
}

// An agent that closes each connection after answering, without saying so,
// leaves a dead connection behind: the pool drops it, or the next call finds
// it dead before any answer and goes again on a new one.
func TestTransportRetriesConnectionClosedWhileIdle(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	// One answer per connection, then the agent closes it.
	a := rawAgent(t, func(conn net.Conn, _ *http.Request) {
		requests.Add(1)
		body := `{"output":"ok"}`
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	c := New()
	for i := range 3 {
		out, err := call(t, c, a, 5*time.Second)
		if err != nil || string(out) != `"ok"` {
			t.Fatalf("call %d: %s, %v", i, out, err)
		}
		time.Sleep(20 * time.Millisecond) // the agent's close arrives
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the agent got %d requests, want 3 (one per call)", n)
	}
}

// An https agent is called over TLS with HTTP/1.1, though the server
// offers HTTP/2.
func TestTransportHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"output":%q}`, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := New()
	c.HTTP.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}
	a := &platform.Agent{Name: "a", Endpoint: srv.URL}
	for range 2 {
		out, err := call(t, c, a, 5*time.Second)
		if err != nil || string(out) != `"HTTP/1.1"` {
			t.Fatalf("Invoke = %s, %v", out, err)
		}
	}
	// An unknown certificate authority is a failed call, not a panic.
	if _, err := call(t, New(), a, 5*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("call with the system's roots: %v, want a certificate error", err)
	}
}

func TestTransportRefusesOtherSchemes(t *testing.T) {
	t.Parallel()
	_, err := call(t, New(), &platform.Agent{Name: "a", Endpoint: "ftp://example.com/x"}, time.Second)
	if err == nil || !strings.Contains(err.Error(), `unsupported protocol scheme "ftp"`) {
		t.Errorf("err = %v, want the scheme refused", err)
	}
}

// An answer whose head never ends fails the call, for good, once it passes
// maxHeadBytes, instead of filling the gateway's memory.
func TestTransportBoundsTheAnswersHead(t *testing.T) {
	t.Parallel()
	a := rawAgent(t, func(conn net.Conn, _ *http.Request) {
		fmt.Fprint(conn, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("x", 1000) + "\r\n"
		for range 2 * maxHeadBytes / len(line) {
			if _, err := io.WriteString(conn, line); err != nil {
				return
			}
		}
	})
	_, err := call(t, New(), a, 10*time.Second)
	var ie *platform.InvocationError
	if !errors.As(err, &ie) || ie.Retryable || !strings.Contains(ie.Message, "status line and headers of more than 1048576 bytes") {
		t.Fatalf("err = %v, want a permanent failure for the headers' size", err)
	}
}
