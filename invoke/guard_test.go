package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// guardLog is a Guard that records the addresses it was asked about and
// refuses those refuse says no to.
type guardLog struct {
	mu     sync.Mutex
	asked  []netip.AddrPort
	refuse func(netip.AddrPort) error
}

func (g *guardLog) guard(_ context.Context, _ string, addr netip.AddrPort) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, addr)
	if g.refuse == nil {
		return nil
	}
	return g.refuse(addr)
}

func (g *guardLog) addresses() []netip.AddrPort {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]netip.AddrPort(nil), g.asked...)
}

// A Guard that refuses the agent's address fails the call for good, with a
// message that names the address and the guard's reason, and nothing
// reaches the agent: not the call, not a connection.
func TestGuardRefusalFailsTheCallPermanently(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"output":1}`)
	})
	g := &guardLog{refuse: func(netip.AddrPort) error { return errors.New("loopback is not an agent address") }}
	c := New()
	c.Guard = g.guard
	_, err := call(t, c, a, 5*time.Second)
	var ie *platform.InvocationError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %T %v, want an InvocationError", err, err)
	}
	addr := strings.TrimPrefix(a.Endpoint, "http://")
	want := "agent a was not called: the gateway may not connect to " + addr + ": loopback is not an agent address"
	if ie.Retryable || ie.StatusCode != 0 || ie.Message != want {
		t.Errorf("err = %+v\nwant permanent: %q", ie, want)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the agent saw %d connections, want none", n)
	}
	// A probe is refused the same way.
	err = c.Probe(t.Context(), a)
	if !errors.As(err, &ie) || ie.Retryable || !strings.Contains(ie.Message, "may not connect to "+addr) {
		t.Errorf("probe: %v, want the guard's refusal", err)
	}
}

// The Guard sees the IP address a host name resolved to, at dial time,
// once for each connection opened: a kept connection is not judged again,
// and each new one is.
func TestGuardSeesResolvedAddressOfEachConnection(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(2)
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Idempotency-Key") == "together" {
			arrived.Done()
			<-release
		}
		fmt.Fprint(w, `{"output":1}`)
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a.Endpoint, "http://"))
	a.Endpoint = "http://localhost:" + port // a name, resolved by the dialer
	g := &guardLog{}
	c := New()
	c.Guard = g.guard

	// Three calls in turn share one connection.
	for range 3 {
		if _, err := call(t, c, a, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Two calls at once need two.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := c.Invoke(ctx, a, &platform.Invocation{TaskID: "t", IdempotencyKey: "together"})
			errs <- err
		}()
	}
	arrived.Wait()
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	asked := g.addresses()
	if n := conns.Load(); n != 2 {
		t.Fatalf("the agent saw %d connections, want 2", n)
	}
	// localhost may resolve to ::1 as well as 127.0.0.1; the agent listens
	// on 127.0.0.1 only, so a dialer that tries ::1 first is refused there
	// and asks again.
	var loopback4 int
	for _, addr := range asked {
		if !addr.Addr().IsLoopback() || fmt.Sprint(addr.Port()) != port {
			t.Errorf("the guard was asked about %s, want a loopback address on port %s", addr, port)
		}
		if addr.Addr() == netip.MustParseAddr("127.0.0.1") {
			loopback4++
		}
	}
	if loopback4 != 2 {
		t.Errorf("the guard was asked about 127.0.0.1 %d times (%v), want 2: once per connection", loopback4, asked)
	}
}

// A Guard that changes its mind applies to the next connection: after
// CloseIdleConnections no kept connection bypasses it.
func TestGuardAfterCloseIdleConnections(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `{"output":1}`)
	})
	var mu sync.Mutex
	refuse := false
	c := New()
	c.Guard = func(context.Context, string, netip.AddrPort) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return errors.New("no longer allowed")
		}
		return nil
	}
	if _, err := call(t, c, a, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	refuse = true
	mu.Unlock()
	c.CloseIdleConnections()
	_, err := call(t, c, a, 5*time.Second)
	if platform.IsRetryable(err) || err == nil || !strings.Contains(err.Error(), "no longer allowed") {
		t.Errorf("after the guard changed: %v, want its refusal", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the agent saw %d connections, want 1", n)
	}
}

// A Guard cannot apply to an HTTP client New did not make: such a Client
// refuses every call rather than call unguarded.
func TestGuardWithoutNewsHTTPClient(t *testing.T) {
	t.Parallel()
	a, conns := countingAgent(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"output":1}`)
	})
	allow := func(context.Context, string, netip.AddrPort) error { return nil }
	for name, c := range map[string]*Client{
		"zero Client":        {Guard: allow},
		"HTTP of its own":    {Guard: allow, HTTP: &http.Client{}},
		"another New's HTTP": {Guard: allow, HTTP: New().HTTP},
	} {
		_, err := call(t, c, a, 5*time.Second)
		if platform.IsRetryable(err) || err == nil || !strings.Contains(err.Error(), "cannot be guarded") {
			t.Errorf("%s: %v, want a permanent failure", name, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the agent saw %d connections, want none", n)
	}
}
