package http_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/postgres"
)

// ticket asks g for an event ticket as key.
func (g *gateway) ticket(t *testing.T, key string) ohttp.CreatedTicket {
	t.Helper()
	resp, b := g.as(t, key, "POST", "/api/v1/events/tickets", "application/json", nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/events/tickets: %d %s", resp.StatusCode, b)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("a ticket's answer has Cache-Control %q, want no-store", cc)
	}
	var tk ohttp.CreatedTicket
	mustUnmarshal(t, b, &tk)
	return tk
}

// dialTicket opens /ws with a ticket and no credentials, from a page of
// the gateway's own origin, as a browser does; it returns the handshake's
// answer when the gateway refuses.
func dialTicket(t *testing.T, base, ticket string) (*wsClient, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?ticket="+ticket,
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial /ws: %v", err)
		}
		return nil, resp
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{c: c}, resp
}

// TestEventTickets opens every stream with a ticket instead of a header,
// as a browser does: a ticket works once, on the streams alone, as the
// principal that asked for it, within that principal's namespaces; every
// refusal is a problem, and a refused ticket is not spent.
func TestEventTickets(t *testing.T) {
	t.Parallel()
	g, asked := newTenantGateway(t)

	tk := g.ticket(t, keyA)
	if !strings.HasPrefix(tk.Ticket, platform.EventTicketPrefix) || tk.Namespace != "team-a" ||
		!slices.Equal(tk.Namespaces, []string{"team-a"}) ||
		!slices.Equal(tk.Scopes, []platform.Scope{platform.ScopeEventsRead, platform.ScopeRunsRead}) {
		t.Fatalf("team-a's ticket: %+v", tk)
	}
	if d := time.Until(tk.ExpiresAt); d <= 0 || d > platform.EventTicketTTL {
		t.Fatalf("the ticket expires in %v, want within %v", d, platform.EventTicketTTL)
	}

	// A ticket on a route that does not stream is no credential, and is
	// not spent there.
	resp, b := g.do(t, "GET", "/api/v1/agents?ticket="+tk.Ticket, "", nil)
	problemOf(t, resp, b, http.StatusUnauthorized)
	// With an Authorization header too, a stream refuses to choose.
	resp, b = g.as(t, keyA, "GET", "/api/v1/events?ticket="+tk.Ticket, "", nil)
	if p := problemOf(t, resp, b, http.StatusBadRequest); !strings.Contains(p.Detail, "not both") {
		t.Errorf("ticket and header: %q", p.Detail)
	}
	resp, b = g.do(t, "GET", "/api/v1/events?ticket="+tk.Ticket+"&ticket="+tk.Ticket, "", nil)
	problemOf(t, resp, b, http.StatusBadRequest)

	// The WebSocket takes it, without asking the Authenticator, and
	// streams team-a's events.
	before := asked.Load()
	ws, resp := dialTicket(t, g.URL(), tk.Ticket)
	if ws == nil {
		t.Fatalf("/ws with a ticket: %d", resp.StatusCode)
	}
	if n := asked.Load() - before; n != 0 {
		t.Errorf("a ticket's stream asked the Authenticator %d time(s)", n)
	}
	ws.send(t, `{"type":"subscribe","channel":"*"}`)
	ws.expect(t, "subscribed", "*")
	g.as(t, keyB, "POST", "/api/v1/agents", "application/json", []byte(agentBody("theirs")))
	a, b := g.as(t, keyA, "POST", "/api/v1/agents", "application/json", []byte(agentBody("ours")))
	if a.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", a.StatusCode, b)
	}
	if e := ws.expect(t, "event", "*").Event; e.Namespace != "team-a" || e.Type != platform.EventAgentRegistered {
		t.Fatalf("team-a's ticket stream carried %+v, want its own registration", e)
	}

	// Spent: a second use is refused, as a problem of the handshake.
	if ws, resp := dialTicket(t, g.URL(), tk.Ticket); ws != nil || resp.StatusCode != http.StatusUnauthorized ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("a ticket used twice: %+v", resp)
	}
	for _, bad := range []string{"", "nope", platform.EventTicketPrefix + strings.Repeat("a", 32), "ossa_" + strings.Repeat("a", 48)} {
		resp, b := g.do(t, "GET", "/api/v1/events?ticket="+bad, "", nil)
		if p := problemOf(t, resp, b, http.StatusUnauthorized); strings.Contains(p.Detail, bad) && bad != "" {
			t.Errorf("the refusal of ticket %q repeats it: %q", bad, p.Detail)
		}
	}

	// SSE takes one too, and a run's stream is the ticket's namespace's.
	sse, _ := g.sseStream(t, "/api/v1/events?since=0&ticket="+g.ticket(t, keyA).Ticket)
	if e, ok := sse(); !ok || e.event.Namespace != "team-a" {
		t.Fatalf("team-a's SSE ticket stream: %+v, %v", e, ok)
	}
	resp, b = g.as(t, keyA, "POST", "/api/v1/orchestrate?wait=30s", "application/json",
		[]byte(`{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"one"},"spec":{"steps":[{"id":"s","kind":"Agent","ref":"ours"}]}}}`))
	var run platform.Run
	if mustUnmarshal(t, b, &run); run.ID == "" {
		t.Fatalf("run: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/api/v1/runs/"+run.ID+"/events?ticket="+g.ticket(t, keyB).Ticket, "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
	next, _ := g.sseStream(t, "/api/v1/runs/"+run.ID+"/events?ticket="+g.ticket(t, keyA).Ticket)
	if e, ok := next(); !ok || e.typ != platform.EventRunQueued {
		t.Fatalf("team-a's run stream with a ticket: %+v, %v", e, ok)
	}

	// A caller that may read no stream gets no ticket; the body must be
	// empty or {}.
	resp, b = g.as(t, keyAgents, "POST", "/api/v1/events/tickets", "application/json", nil)
	problemOf(t, resp, b, http.StatusForbidden)
	resp, b = g.as(t, keyA, "POST", "/api/v1/events/tickets", "application/json", []byte(`{"scopes":["admin"]}`))
	problemOf(t, resp, b, http.StatusBadRequest)
	resp, b = g.as(t, keyA, "POST", "/api/v1/events/tickets", "text/plain", nil)
	problemOf(t, resp, b, http.StatusUnsupportedMediaType)
	resp, b = g.do(t, "POST", "/api/v1/events/tickets", "application/json", nil)
	problemOf(t, resp, b, http.StatusUnauthorized)
}

// TestEventTicketScopes checks that a ticket carries no more than the
// stream scopes its maker holds: a ticket of a runs:read key opens a run's
// stream and not /ws, which needs events:read.
func TestEventTicketScopes(t *testing.T) {
	t.Parallel()
	p := ossatest.Start(t, ossatest.WithAuth())
	g := &gateway{Server: p.Gateway}
	resp, b := g.as(t, p.AdminKey, "POST", "/api/v1/keys", "application/json",
		[]byte(`{"namespace":"team-a","scopes":["runs:read","agents:write"]}`))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("key: %d %s", resp.StatusCode, b)
	}
	var key ohttp.CreatedKey
	mustUnmarshal(t, b, &key)
	tk := g.ticket(t, key.Key)
	if !slices.Equal(tk.Scopes, []platform.Scope{platform.ScopeRunsRead}) || tk.Namespace != "team-a" {
		t.Fatalf("the ticket of a runs:read key: %+v", tk)
	}
	if ws, resp := dialTicket(t, g.URL(), tk.Ticket); ws != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/ws with a runs:read ticket: %+v", resp)
	}
	// The admin key's ticket opens /ws, and a page of another site may not.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL(), "http")+"/ws?ticket="+g.ticket(t, p.AdminKey).Ticket,
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/ws from another site's page: %v, %+v", err, resp)
	}
	if ws, resp := dialTicket(t, g.URL(), g.ticket(t, p.AdminKey).Ticket); ws == nil {
		t.Fatalf("/ws with the admin's ticket: %d", resp.StatusCode)
	}
}

// TestEventTicketsAcrossReplicas makes a ticket on one gateway and opens
// a stream with it on another over the same PostgreSQL: a load balancer
// may send the two requests to different replicas. It works there once.
func TestEventTicketsAcrossReplicas(t *testing.T) {
	t.Parallel()
	url, schema, _ := testenv.PostgresSchema(t)
	replica := func() *gateway {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		asked := new(atomic.Int64)
		srv := ossatest.Start(t, ossatest.WithStore(db), ossatest.WithGateway(func(s *ohttp.Server) {
			s.Authenticator = keyAuth(asked)
		})).Gateway
		return &gateway{Server: srv}
	}
	a, b := replica(), replica()
	tk := a.ticket(t, keyA)
	if ws, resp := dialTicket(t, b.URL(), tk.Ticket); ws == nil {
		t.Fatalf("replica B refused replica A's ticket: %d", resp.StatusCode)
	}
	if ws, resp := dialTicket(t, a.URL(), tk.Ticket); ws != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replica A took the ticket B had spent: %+v", resp)
	}
}
