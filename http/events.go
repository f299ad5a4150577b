package http

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
)

// Live event streams: the WebSocket protocol of the developer guide and
// Server-Sent Events. docs/events.md describes both.
const (
	// wsPingInterval and wsPongTimeout are Server.WSPingInterval's and
	// Server.WSPongTimeout's defaults.
	wsPingInterval = 25 * time.Second
	wsPongTimeout  = 10 * time.Second
	// wsWriteTimeout bounds a write to a live stream's connection.
	wsWriteTimeout = 10 * time.Second
	// wsMaxMessage caps what a client may send in one message.
	wsMaxMessage = 4096
	// sseKeepAlive is how often an idle SSE stream gets a comment line,
	// so proxies keep it open.
	sseKeepAlive = 15 * time.Second
	// runStreamGrace is how long a finished run's stream waits for a
	// terminal event it has not seen yet before closing.
	runStreamGrace = 10 * time.Second
)

// WebSocket close codes beyond RFC 6455's, in the private range.
const (
	closeTooSlow      websocket.StatusCode = 4008
	closeShuttingDown websocket.StatusCode = 4001
)

func (s *Server) registerEventRoutes() {
	s.handleStream("GET /ws", platform.ScopeEventsRead, s.handleWebSocket)
	s.handleStream("GET /api/v1/events", platform.ScopeEventsRead, s.handleEventStream)
	s.handleStream("GET /api/v1/runs/{id}/events", platform.ScopeRunsRead, s.handleRunEventStream)
}

// subscriber returns a subscriber to the events of the namespaces the
// request's principal sees: the hub filters them, live and replayed.
func (s *Server) subscriber(r *http.Request) (*events.Subscriber, error) {
	p := principal(r)
	var namespaces []string // every namespace
	if !slices.Contains(p.Namespaces, platform.AllNamespaces) {
		if len(p.Namespaces) == 0 {
			// None given would mean every one to the hub.
			return nil, platform.Errorf(platform.EFORBIDDEN, "this caller may see no namespace's events")
		}
		namespaces = p.Namespaces
	}
	sub, err := s.Events.NewSubscriber(namespaces...)
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "%v", err)
	}
	return sub, nil
}

func (s *Server) eventsReady() error {
	if s.Events == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "live events are not enabled on this gateway")
	}
	return nil
}

// WSMessage is every message of the WebSocket protocol, both ways. A
// client sends subscribe (channel, optional since), unsubscribe (channel)
// and ping; the gateway sends subscribed, unsubscribed, event (channel,
// event), pong and error (code, message).
type WSMessage struct {
	Type    string          `json:"type"`
	Channel string          `json:"channel,omitempty"`
	Since   *int64          `json:"since,omitempty"`
	Event   *platform.Event `json:"event,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	// ID is echoed from a client's message in the answer to it.
	ID json.RawMessage `json:"id,omitempty"`
}

// handleWebSocket handles "GET /ws": the guide's WebSocket protocol.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) error {
	if err := s.eventsReady(); err != nil {
		return err
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		return &platform.Error{Code: codeUpgradeRequired, Message: "this route speaks WebSocket: send a WebSocket upgrade request"}
	}
	if err := s.checkWebSocketOrigin(r); err != nil {
		return err
	}
	if err := checkHandshake(r); err != nil {
		return err
	}
	sub, err := s.subscriber(r)
	if err != nil {
		return err
	}
	c, out, err := acceptBatched(w, r)
	if err != nil {
		// Only taking the connection over can fail once the handshake is
		// checked, and Accept has answered.
		sub.Close()
		logger(r).WarnContext(r.Context(), "websocket accept failed", slog.String("error", err.Error()))
		return nil //nolint:nilerr // Accept has answered
	}
	c.SetReadLimit(wsMaxMessage)
	end := s.longLived(r)
	s.metrics.wsConnections.Inc()
	ws := &wsConn{c: c, out: out, sub: sub, hub: s.Events, requests: make(chan WSMessage, 2), subs: map[string]*wsSub{},
		pingEvery: cmp.Or(s.WSPingInterval, wsPingInterval), pongWait: cmp.Or(s.WSPongTimeout, wsPongTimeout)}
	// The connection outlives the request: the handler returns, giving
	// back its goroutine and stack, and two goroutines of the
	// connection's own serve it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	ws.stop = func() { cancel(); sub.Wake() }
	go ws.read(ctx)
	go func() {
		defer end()
		defer s.metrics.wsConnections.Dec()
		defer sub.Close()
		defer cancel()
		status, reason := ws.write(ctx)
		// The close handshake fails when the client is gone already.
		_ = c.Close(status, reason)
	}()
	return nil
}

// checkWebSocketOrigin refuses a WebSocket opened by a page of another
// site: browsers let any page open one, with its cookies, and name the
// page's origin in Origin. Allowed are requests without Origin (not from a
// browser), a page of the host the request is addressed to (its Host, so a
// proxy in front must pass the Host the browser used), and the origins of
// CORS_ORIGIN, or any with "*".
func (s *Server) checkWebSocketOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || slices.Contains(s.CORSOrigins, origin) || slices.Contains(s.CORSOrigins, "*") {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return platform.Errorf(platform.EFORBIDDEN,
		"origin %q may not open a WebSocket here: it is not this host (%q) and not listed in CORS_ORIGIN", origin, r.Host)
}

// wsConn is one WebSocket client: a reader goroutine that parses what the
// client sends, and a writer goroutine that writes everything, so
// that acknowledgements, replays and live events go out in one order.
// The writer waits on one thing, its subscriber's Ready, whatever woke it:
// events, a client message, the end, or a ping due.
type wsConn struct {
	c *websocket.Conn
	// out sends the messages, in batches.
	out      *batchWriter
	sub      *events.Subscriber
	hub      *events.Hub
	requests chan WSMessage
	// subs are the subscribed channels by name.
	subs map[string]*wsSub
	// stop ends the connection: it cancels its context and wakes the
	// writer.
	stop func()
	// pingEvery is how often the client is pinged; pongWait how long its
	// pong may take.
	pingEvery, pongWait time.Duration
	// pingDue is set when a ping is due; noPong when one went unanswered.
	pingDue, noPong atomic.Bool
}

// wsSub is one subscribed channel of a connection.
type wsSub struct {
	// last is the ID of the last event sent on the channel.
	last int64
	// prefix is how the channel's event messages start, up to the event.
	prefix []byte
}

// read parses client messages until the connection ends. Bad ones are
// answered with an error message; the connection stays open.
func (ws *wsConn) read(ctx context.Context) {
	defer ws.stop()
	for {
		typ, b, err := ws.c.Read(ctx)
		if err != nil {
			return
		}
		var m WSMessage
		switch {
		case typ != websocket.MessageText:
			m = WSMessage{Type: "error", Code: "bad_message", Message: "messages are JSON text, not binary"}
		case json.Unmarshal(b, &m) != nil:
			m = WSMessage{Type: "error", Code: "bad_json", Message: "the message is not a JSON object: " + jsonError(b)}
		}
		select {
		case ws.requests <- m:
			ws.sub.Wake()
		case <-ctx.Done():
			return
		}
	}
}

func jsonError(b []byte) string {
	var v map[string]any
	err := json.Unmarshal(b, &v)
	if err == nil {
		return "unexpected shape"
	}
	return err.Error()
}

// write sends acknowledgements, replays and events until the client or
// the subscriber ends, and returns the close status to end with.
func (ws *wsConn) write(ctx context.Context) (websocket.StatusCode, string) {
	ping := time.AfterFunc(ws.pingEvery, func() { ws.pingDue.Store(true); ws.sub.Wake() })
	defer ping.Stop()
	var buf []events.Delivery
	for {
		<-ws.sub.Ready()
		if ws.noPong.Load() {
			return websocket.StatusPolicyViolation, "no pong"
		}
		if ctx.Err() != nil {
			return websocket.StatusNormalClosure, ""
		}
		select {
		case <-ws.sub.Done():
			if errors.Is(ws.sub.Err(), events.ErrSlow) {
				return closeTooSlow, "too slow: fell too far behind the event stream; reconnect with since"
			}
			return closeShuttingDown, "the gateway is shutting down; reconnect with since"
		default:
		}
		if err := ws.answer(ctx); err != nil {
			return websocket.StatusInternalError, "write failed"
		}
		buf = ws.sub.Take(buf[:0])
		var (
			name   string
			sub    *wsSub
			looked bool
		)
		for _, d := range buf {
			if !looked || d.Subscription != name {
				name, sub, looked = d.Subscription, ws.subs[d.Subscription], true
			}
			if sub == nil || d.Event.ID <= sub.last {
				continue // unsubscribed since, or replayed already
			}
			sub.last = d.Event.ID
			if err := ws.sendEvent(sub, d.Event, d.JSON); err != nil {
				return websocket.StatusInternalError, "write failed"
			}
		}
		if err := ws.out.Flush(); err != nil {
			return websocket.StatusInternalError, "write failed"
		}
		if cap(buf) > 256 {
			buf = nil
		}
		if ws.pingDue.Swap(false) {
			go ws.ping(ctx, ping)
		}
	}
}

// answer handles the client messages waiting.
func (ws *wsConn) answer(ctx context.Context) error {
	for {
		select {
		case m := <-ws.requests:
			if err := ws.handle(ctx, m); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// ping pings the client and waits for the pong, beside the writer so that
// events keep flowing meanwhile; no pong within pongWait ends the
// connection.
func (ws *wsConn) ping(ctx context.Context, next *time.Timer) {
	pctx, cancel := context.WithTimeout(ctx, ws.pongWait)
	defer cancel()
	if err := ws.c.Ping(pctx); err != nil {
		if ctx.Err() == nil {
			// The writer closes with the reason; cancelling ctx here
			// would close the connection under it first.
			ws.noPong.Store(true)
			ws.sub.Wake()
		}
		return
	}
	if ctx.Err() == nil {
		next.Reset(ws.pingEvery)
	}
}

// handle answers one client message.
func (ws *wsConn) handle(ctx context.Context, m WSMessage) error {
	reply := func(r WSMessage) error { r.ID = m.ID; return ws.send(r) }
	fail := func(code, format string, args ...any) error {
		return reply(WSMessage{Type: "error", Code: code, Channel: m.Channel, Message: fmt.Sprintf(format, args...)})
	}
	switch m.Type {
	case "error": // what read could not parse
		return ws.send(m)
	case "ping":
		return reply(WSMessage{Type: "pong"})
	case "subscribe":
		c, err := platform.ParseChannel(m.Channel)
		if err != nil {
			return fail("bad_channel", "%s", platform.ErrorMessage(err))
		}
		if m.Since != nil && *m.Since < 0 {
			return fail("bad_since", "since must be an event ID, 0 or more")
		}
		if len(ws.subs) >= maxChannels && ws.subs[m.Channel] == nil {
			return fail("too_many_channels", "a connection may subscribe to at most %d channels", maxChannels)
		}
		chans := []platform.Channel{c}
		start := ws.sub.Subscribe(m.Channel, chans)
		name, _ := json.Marshal(m.Channel)
		sub := &wsSub{last: start, prefix: fmt.Appendf(nil, `{"type":"event","channel":%s,"event":`, name)}
		ws.subs[m.Channel] = sub
		if err := reply(WSMessage{Type: "subscribed", Channel: m.Channel, Since: m.Since}); err != nil {
			return err
		}
		if m.Since == nil {
			return nil
		}
		sub.last = max(*m.Since, start)
		err = ws.sub.Replay(ctx, chans, *m.Since, start, func(e *platform.Event) error {
			return ws.sendEvent(sub, e, nil)
		})
		if err != nil && ctx.Err() == nil {
			return fail("replay_failed", "could not read past events: %v", err)
		}
		return err
	case "unsubscribe":
		if !ws.sub.Unsubscribe(m.Channel) {
			return fail("not_subscribed", "not subscribed to channel %q", m.Channel)
		}
		delete(ws.subs, m.Channel)
		return reply(WSMessage{Type: "unsubscribed", Channel: m.Channel})
	case "":
		return fail("bad_message", "the message has no type; want subscribe, unsubscribe or ping")
	default:
		return fail("unknown_type", "unknown message type %q; want subscribe, unsubscribe or ping", m.Type)
	}
}

// maxChannels caps one connection's subscriptions.
const maxChannels = 64

// send adds m to the batch being put together, which write flushes. A
// long replay goes out a batch at a time.
func (ws *wsConn) send(m WSMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return ws.out.Message(b)
}

// sendEvent sends an event message on sub, from the event's JSON when the
// hub encoded it already (once for every subscriber).
func (ws *wsConn) sendEvent(sub *wsSub, e *platform.Event, encoded []byte) error {
	if encoded == nil {
		var err error
		if encoded, err = json.Marshal(e); err != nil {
			return err
		}
	}
	return ws.out.Message(sub.prefix, encoded, closeBrace)
}

var closeBrace = []byte("}")

// eventStreamParams are the query parameters of GET /api/v1/events.
var eventStreamParams = []string{"channels", "since", TicketParam}

// handleEventStream handles "GET /api/v1/events": the events of the
// channels as Server-Sent Events, from Last-Event-ID (or since) on, else
// from now.
func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request) error {
	if err := s.eventsReady(); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := onlyParams(q, eventStreamParams...); err != nil {
		return err
	}
	var p platform.Problems
	chans, err := platform.ParseChannels(q.Get("channels"))
	if err != nil {
		p.Add("channels", "%s", platform.ErrorMessage(err))
	}
	since := resumeFrom(r, &p, -1)
	if len(p) > 0 {
		return &platform.Error{Code: platform.EBADREQUEST, Message: "the event stream request is not valid", Fields: p}
	}
	return s.streamSSE(w, r, chans, since, func(*platform.Event) bool { return false })
}

// handleRunEventStream handles "GET /api/v1/runs/{id}/events": one run's
// events as Server-Sent Events, from the start (or Last-Event-ID), closed
// after the run's terminal event.
func (s *Server) handleRunEventStream(w http.ResponseWriter, r *http.Request) error {
	if err := s.eventsReady(); err != nil {
		return err
	}
	if err := s.orchestrationReady(); err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query(), "since", TicketParam); err != nil {
		return err
	}
	var p platform.Problems
	since := resumeFrom(r, &p, 0)
	if len(p) > 0 {
		return &platform.Error{Code: platform.EBADREQUEST, Message: "the event stream request is not valid", Fields: p}
	}
	run, err := s.Runs.FindRun(r.Context(), namespace(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	c, err := platform.ParseChannel("run:" + run.ID)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if run.Status.Terminal() {
		// The terminal event is stored or about to be; if it was pruned or
		// the client saw it already, the stream has nothing more to say.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, runStreamGrace)
		defer cancel()
	}
	return s.streamSSE(w, r.WithContext(ctx), []platform.Channel{c}, since, (*platform.Event).Terminal)
}

// resumeFrom is the event ID a stream starts after: Last-Event-ID, else
// the since parameter, else def (-1: only new events).
func resumeFrom(r *http.Request, p *platform.Problems, def int64) int64 {
	name, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		name, v = "since", r.URL.Query().Get("since")
	}
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		p.Add(name, "must be an event ID, 0 or more")
		return def
	}
	return n
}

// streamSSE writes the events of chans after since, then live ones, as
// text/event-stream until the client leaves, the subscriber ends, or stop
// says an event was the last; only the events of the namespaces the
// request's principal sees.
func (s *Server) streamSSE(w http.ResponseWriter, r *http.Request, chans []platform.Channel, since int64, stop func(*platform.Event) bool) error {
	sub, err := s.subscriber(r)
	if err != nil {
		return err
	}
	defer sub.Close()
	defer s.longLived(r)()
	rc := http.NewResponseController(w)
	// A stream outlives the server's read timeout, which would end it.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Keepalive comments come from a goroutine of their own, under the
	// same lock as events. Events are written into the response's buffer
	// and flushed a batch at a time.
	var mu = make(chan struct{}, 1)
	locked := func(f func() error) error {
		mu <- struct{}{}
		defer func() { <-mu }()
		_ = rc.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
		return f()
	}
	flush := func() error { return locked(rc.Flush) }
	write := func(b []byte) error {
		return locked(func() error {
			_, err := w.Write(b)
			return err
		})
	}
	go func() {
		t := time.NewTicker(sseKeepAlive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if write([]byte(": keepalive\n\n")) != nil || flush() != nil {
					cancel()
					return
				}
			}
		}
	}()
	err = sub.Stream(ctx, "sse", chans, since, func(e *platform.Event, encoded []byte) error {
		return write(sseFrame(e, encoded))
	}, flush, stop)
	if errors.Is(err, events.ErrSlow) || errors.Is(err, events.ErrClosed) {
		// The client reconnects with Last-Event-ID and loses nothing.
		if write([]byte(": "+err.Error()+"\n\n")) == nil {
			_ = flush()
		}
	}
	return nil
}

// sseFrame is one event as Server-Sent Events: its ID, its type and the
// event as JSON (encoded, unless nil) on one data line.
func sseFrame(e *platform.Event, encoded []byte) []byte {
	b := encoded
	if b == nil {
		b, _ = json.Marshal(e)
	}
	out := make([]byte, 0, len(b)+len(e.Type)+40)
	out = append(out, "id: "...)
	out = strconv.AppendInt(out, e.ID, 10)
	out = append(out, "\nevent: "...)
	out = append(out, e.Type...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}
