package http_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// wsClient is a WebSocket client of the gateway's /ws.
type wsClient struct {
	c *websocket.Conn
}

func (g *gateway) dialWS(t *testing.T) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL(), "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial /ws: %v (%+v)", err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{c: c}
}

func (w *wsClient) send(t *testing.T, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("send %s: %v", msg, err)
	}
}

func (w *wsClient) read(t *testing.T) ohttp.WSMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m ohttp.WSMessage
	mustUnmarshal(t, b, &m)
	return m
}

// expect reads one message and checks its type and channel.
func (w *wsClient) expect(t *testing.T, typ, channel string) ohttp.WSMessage {
	t.Helper()
	m := w.read(t)
	if m.Type != typ || m.Channel != channel {
		t.Fatalf("got %+v, want a %q message on %q", m, typ, channel)
	}
	return m
}

// events reads n event messages and returns their events.
func (w *wsClient) events(t *testing.T, channel string, n int) []*platform.Event {
	t.Helper()
	var out []*platform.Event
	for range n {
		out = append(out, w.expect(t, "event", channel).Event)
	}
	return out
}

// quiet checks that nothing arrives for a moment.
func (w *wsClient) quiet(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, b, err := w.c.Read(ctx); err == nil {
		t.Fatalf("unexpected message %s", b)
	}
}

func agentBody(name string) string {
	return fmt.Sprintf(`{"name":%q,"type":"worker","capabilities":["x"],"endpoint":"http://127.0.0.1:1"}`, name)
}

func TestWebSocketProtocol(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ws := g.dialWS(t)
	ws.send(t, `{"type":"subscribe","channel":"agent-events","id":7}`)
	if m := ws.expect(t, "subscribed", "agent-events"); string(m.ID) != "7" {
		t.Fatalf("the answer does not echo the id: %+v", m)
	}
	a := g.register(t, agentBody("scout"))
	e := ws.events(t, "agent-events", 1)[0]
	var data platform.AgentEventData
	mustUnmarshal(t, e.Data, &data)
	if e.Type != platform.EventAgentRegistered || e.ID != 1 || data.ID != a.ID || data.Name != "scout" || e.Time.IsZero() {
		t.Fatalf("event %+v, data %+v", e, data)
	}

	// Bad messages get an error; the connection stays open.
	for _, tc := range []struct{ msg, code string }{
		{`{"type":`, "bad_json"},
		{`[1,2]`, "bad_json"},
		{`{"type":"dance"}`, "unknown_type"},
		{`{"channel":"x"}`, "bad_message"},
		{`{"type":"subscribe","channel":"nonsense"}`, "bad_channel"},
		{`{"type":"subscribe","channel":"run:not-an-id"}`, "bad_channel"},
		{`{"type":"subscribe","channel":"*","since":-4}`, "bad_since"},
		{`{"type":"unsubscribe","channel":"run-events"}`, "not_subscribed"},
	} {
		ws.send(t, tc.msg)
		m := ws.read(t)
		if m.Type != "error" || m.Code != tc.code || m.Message == "" {
			t.Fatalf("%s: got %+v, want error %q", tc.msg, m, tc.code)
		}
	}
	ws.send(t, `{"type":"ping","id":"p1"}`)
	if m := ws.read(t); m.Type != "pong" || string(m.ID) != `"p1"` {
		t.Fatalf("ping answered %+v", m)
	}

	// A second channel that matches the same event gets its own copy.
	ws.send(t, `{"type":"subscribe","channel":"agent:judge"}`)
	ws.expect(t, "subscribed", "agent:judge")
	g.register(t, agentBody("judge"))
	got := map[string]int64{}
	for range 2 {
		m := ws.read(t)
		if m.Type != "event" {
			t.Fatalf("got %+v, want an event", m)
		}
		got[m.Channel] = m.Event.ID
	}
	if len(got) != 2 || got["agent-events"] != 2 || got["agent:judge"] != 2 {
		t.Fatalf("event 2 arrived as %v", got)
	}

	// Unsubscribed, a channel is silent.
	ws.send(t, `{"type":"unsubscribe","channel":"agent-events"}`)
	ws.expect(t, "unsubscribed", "agent-events")
	ws.send(t, `{"type":"unsubscribe","channel":"agent:judge"}`)
	ws.expect(t, "unsubscribed", "agent:judge")
	g.register(t, agentBody("late"))
	ws.quiet(t)
}

func TestWebSocketReplaysWithSince(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for i := range 5 {
		g.register(t, agentBody(fmt.Sprintf("a%d", i)))
	}
	waitLast(t, g, 5)
	ws := g.dialWS(t)
	ws.send(t, `{"type":"subscribe","channel":"*","since":2}`)
	ws.expect(t, "subscribed", "*")
	g.register(t, agentBody("a5")) // live, while the replay may still run
	var ids []int64
	for _, e := range ws.events(t, "*", 4) {
		ids = append(ids, e.ID)
	}
	if fmt.Sprint(ids) != "[3 4 5 6]" {
		t.Fatalf("replay then live gave %v, want [3 4 5 6]", ids)
	}
	ws.quiet(t)
	// Without since, only what comes next.
	ws2 := g.dialWS(t)
	ws2.send(t, `{"type":"subscribe","channel":"agent-events"}`)
	ws2.expect(t, "subscribed", "agent-events")
	g.register(t, agentBody("a6"))
	if e := ws2.events(t, "agent-events", 1)[0]; e.ID != 7 {
		t.Fatalf("live event %d, want 7", e.ID)
	}
}

func waitLast(t *testing.T, g *gateway, id int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.Events.Metrics().Last < id {
		if time.Now().After(deadline) {
			t.Fatalf("the hub reached %d, want %d", g.Events.Metrics().Last, id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebSocketNeedsUpgrade(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	resp, b := g.do(t, "GET", "/ws", "", nil)
	p := problemOf(t, resp, b, http.StatusUpgradeRequired)
	if resp.Header.Get("Upgrade") != "websocket" || !strings.Contains(p.Detail, "WebSocket") {
		t.Fatalf("problem %+v, Upgrade %q", p, resp.Header.Get("Upgrade"))
	}
}

// sseEvent is one event of a text/event-stream.
type sseEvent struct {
	id, typ string
	event   platform.Event
}

// sseStream opens path and returns a function reading the next event,
// which reports false once the stream has ended.
func (g *gateway) sseStream(t *testing.T, path string, headers ...string) (func() (sseEvent, bool), *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", g.URL()+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	next := func() (sseEvent, bool) {
		t.Helper()
		var e sseEvent
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					return e, false
				}
				switch {
				case line == "" && e.id != "":
					return e, true
				case strings.HasPrefix(line, "id: "):
					e.id = line[4:]
				case strings.HasPrefix(line, "event: "):
					e.typ = line[7:]
				case strings.HasPrefix(line, "data: "):
					mustUnmarshal(t, []byte(line[6:]), &e.event)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("no event for 15s")
			}
		}
	}
	return next, resp
}

func TestServerSentEvents(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.register(t, agentBody("a0"))
	g.register(t, agentBody("a1"))
	waitLast(t, g, 2)
	next, _ := g.sseStream(t, "/api/v1/events?channels=agent-events,workflow-events", "Last-Event-ID", "1")
	g.register(t, agentBody("a2"))
	for want := int64(2); want <= 3; want++ {
		e, ok := next()
		if !ok || e.id != strconv.FormatInt(want, 10) || e.typ != platform.EventAgentRegistered || e.event.ID != want {
			t.Fatalf("got %+v, want event %d", e, want)
		}
	}
	// since works as Last-Event-ID does, for clients that cannot set it.
	next2, _ := g.sseStream(t, "/api/v1/events?since=2")
	if e, ok := next2(); !ok || e.event.ID != 3 {
		t.Fatalf("since=2 gave %+v", e)
	}

	for _, tc := range []struct {
		path    string
		headers []string
		field   string
	}{
		{"/api/v1/events?channels=bogus", nil, "channels"},
		{"/api/v1/events?channels=run:123", nil, "channels"},
		{"/api/v1/events?since=abc", nil, "since"},
		{"/api/v1/events", []string{"Last-Event-ID", "-3"}, "Last-Event-ID"},
		{"/api/v1/events?chanels=*", nil, "chanels"},
	} {
		resp, b := g.do(t, "GET", tc.path, "", nil, tc.headers...)
		problemNaming(t, resp, b, http.StatusBadRequest, "", []string{tc.field})
	}
}

func TestRunEventStream(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	release := make(chan struct{})
	g.agent(t, "greeter", "greet", func(c agentCall) (int, string) {
		<-release
		return 200, `{"output":"hi"}`
	})
	body := `{"workflow": {"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "hello"},
		"spec": {"steps": [{"id": "one", "kind": "Agent", "capability": "greet"},
			{"id": "two", "kind": "Agent", "capability": "greet", "depends_on": ["one"]}]}}}`
	resp, b := g.postJSON(t, "/api/v1/orchestrate", body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
	}
	var acc ohttp.OrchestrateAccepted
	mustUnmarshal(t, b, &acc)

	// From the start, live, until the run's end, then the stream closes.
	next, _ := g.sseStream(t, acc.Links.Events)
	var types []string
	var ids []string
	for {
		e, ok := next()
		if !ok {
			break
		}
		if e.typ == platform.EventStepStarted && len(types) < 4 {
			close(release) // both steps answer once the first started
		}
		types, ids = append(types, e.typ), append(ids, e.id)
	}
	want := []string{"run.queued", "run.started", "step.started", "step.succeeded", "step.started", "step.succeeded", "run.succeeded"}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("run stream %v, want %v", types, want)
	}

	// Resuming after the third event gives the rest, and closes.
	next, _ = g.sseStream(t, acc.Links.Events, "Last-Event-ID", ids[2])
	var rest []string
	for e, ok := next(); ok; e, ok = next() {
		rest = append(rest, e.typ)
	}
	if fmt.Sprint(rest) != fmt.Sprint(want[3:]) {
		t.Fatalf("resumed stream %v, want %v", rest, want[3:])
	}

	resp, b = g.do(t, "GET", "/api/v1/runs/0190b1b2-0000-7000-8000-000000000000/events", "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
}

func TestEventsUnavailable(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.Events.Close()
	for _, path := range []string{"/api/v1/events", "/ws"} {
		resp, b := g.do(t, "GET", path, "", nil, "Upgrade", "websocket", "Connection", "Upgrade",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		problemOf(t, resp, b, http.StatusServiceUnavailable)
	}
}

func TestWebSocketDropsSlowClient(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	// No commit hook and a long poll: events are sequenced when the test
	// says, all at once, which a buffer of one cannot hold.
	p := ossatest.Start(t, ossatest.WithStore(db), ossatest.WithConfig(func(c *serve.Config) {
		c.EventBuffer, c.EventPollInterval = 1, time.Hour
		c.VectorIndex = "none" // discovery's indexer would be a second subscriber to drop
	}))
	db.OnCommit(func() {})
	hub := p.Main.Hub
	g := &gateway{Server: p.Gateway, db: db}
	ws := g.dialWS(t)
	ws.send(t, `{"type":"subscribe","channel":"*"}`)
	ws.expect(t, "subscribed", "*")
	for i := range 3 {
		g.register(t, agentBody(fmt.Sprintf("a%d", i)))
	}
	hub.Notify()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := ws.c.Read(ctx)
		if err == nil {
			continue // what was queued before the drop
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4008 || !strings.Contains(ce.Reason, "too slow") {
			t.Fatalf("connection ended with %v (%s)", err, b)
		}
		break
	}
	if m := hub.Metrics(); m.Dropped != 1 {
		t.Fatalf("dropped %d", m.Dropped)
	}
}

func TestWebSocketClosedOnShutdown(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ws := g.dialWS(t)
	ws.send(t, `{"type":"subscribe","channel":"*"}`)
	ws.expect(t, "subscribed", "*")
	g.Events.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := ws.c.Read(ctx)
	if websocket.CloseStatus(err) != 4001 {
		t.Fatalf("connection ended with %v, want close 4001", err)
	}
}

// A client that answers pings stays connected across them and keeps
// getting events; one that does not is closed with 1008.
func TestWebSocketPings(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) {
		s.WSPingInterval = 50 * time.Millisecond
		s.WSPongTimeout = 200 * time.Millisecond
	})
	answering, silent := g.dialWS(t), g.dialWS(t)
	for _, ws := range []*wsClient{answering, silent} {
		ws.send(t, `{"type":"subscribe","channel":"agent-events"}`)
		ws.expect(t, "subscribed", "agent-events")
	}
	// coder/websocket answers pings while it reads: the answering client
	// reads all along, the silent one not at all.
	got := make(chan []byte, 16)
	go func() {
		for {
			_, b, err := answering.c.Read(context.Background())
			if err != nil {
				close(got)
				return
			}
			got <- b
		}
	}()
	time.Sleep(500 * time.Millisecond) // ten ping intervals
	g.register(t, agentBody("after-pings"))
	select {
	case b, ok := <-got:
		var m ohttp.WSMessage
		if !ok {
			t.Fatal("the answering client's connection ended")
		}
		mustUnmarshal(t, b, &m)
		if m.Type != "event" || m.Event.Type != platform.EventAgentRegistered {
			t.Fatalf("after the pings got %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the pings")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := silent.c.Read(ctx)
		if err == nil {
			continue // the event it did not read in time, or nothing
		}
		if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
			t.Fatalf("the silent client's connection ended with %v (%v, last %s), want 1008", s, err, b)
		}
		break
	}
}
