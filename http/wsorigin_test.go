package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	ohttp "github.com/ossa-platform/platform/http"
)

// upgradeHeaders are a browser's WebSocket handshake from origin.
func upgradeHeaders(origin string) []string {
	return []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13",
		"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin", origin}
}

// TestWebSocketOrigin checks which pages may open /ws: a page of the
// gateway's own host, a CORS_ORIGIN origin, and clients that send no
// Origin; any other origin gets a 403 problem naming it and CORS_ORIGIN.
func TestWebSocketOrigin(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) { s.CORSOrigins = []string{"https://ui.example"} })
	host := strings.TrimPrefix(g.URL(), "http://")

	for _, origin := range []string{"https://evil.example", "http://" + host + ".evil.example", "null"} {
		resp, b := g.do(t, "GET", "/ws", "", nil, upgradeHeaders(origin)...)
		p := problemOf(t, resp, b, http.StatusForbidden)
		if !strings.Contains(p.Detail, `"`+origin+`"`) || !strings.Contains(p.Detail, "CORS_ORIGIN") || p.Type != ohttp.ProblemTypePrefix+"forbidden" {
			t.Fatalf("origin %s: %s", origin, b)
		}
	}

	for _, origin := range []string{"http://" + host, "https://ui.example", ""} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		header := http.Header{}
		if origin != "" {
			header.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(ctx, "ws://"+host+"/ws", &websocket.DialOptions{HTTPHeader: header})
		cancel()
		if err != nil {
			t.Fatalf("origin %q refused: %v (%+v)", origin, err, resp)
		}
		ws := &wsClient{c: c}
		ws.send(t, `{"type":"ping","id":1}`)
		ws.expect(t, "pong", "")
		c.CloseNow()
	}
}

// TestWebSocketAnyOrigin checks that CORS_ORIGIN=* lets any page open /ws.
func TestWebSocketAnyOrigin(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) { s.CORSOrigins = []string{"*"} })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL(), "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://anywhere.example"}}})
	if err != nil {
		t.Fatalf("refused: %v (%+v)", err, resp)
	}
	c.CloseNow()
}
