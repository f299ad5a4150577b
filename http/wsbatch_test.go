package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
)

// TestWebSocketLibraryVersion fails when go.mod names a coder/websocket
// other than the one wsbatch.go's assumptions were checked against: check
// them again (TestWebSocketBatchWriterAssumptions), then move
// wsCheckedVersion.
func TestWebSocketLibraryVersion(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/coder/websocket" {
			got = f[1]
		} else if len(f) >= 3 && f[0] == "require" && f[1] == "github.com/coder/websocket" {
			got = f[2]
		}
	}
	if got != wsCheckedVersion {
		t.Fatalf("go.mod requires github.com/coder/websocket %q; wsbatch.go was checked against %s: "+
			"read its assumptions in the library's new code, run this file's tests, then set wsCheckedVersion", got, wsCheckedVersion)
	}
}

// recordingConn records what is written to a connection and which
// deadlines are set on it.
type recordingConn struct {
	net.Conn
	mu             sync.Mutex
	writes         [][]byte
	writeDeadlines []time.Time
	otherDeadlines int
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadlines = append(c.writeDeadlines, t)
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *recordingConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.otherDeadlines++
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *recordingConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.otherDeadlines++
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// recordingWriter hijacks its connection as a recordingConn.
type recordingWriter struct {
	http.ResponseWriter
	conn *recordingConn
}

func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &recordingConn{Conn: conn}
	return w.conn, brw, nil
}

// frame is one parsed WebSocket frame.
type frame struct {
	fin     bool
	rsv     byte
	opcode  byte
	masked  bool
	payload []byte
}

// parseFrames parses b as whole frames; it fails when b ends inside one.
func parseFrames(b []byte) ([]frame, error) {
	var out []frame
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("a frame header cut after 1 byte")
		}
		f := frame{fin: b[0]&0x80 != 0, rsv: b[0] & 0x70, opcode: b[0] & 0x0f, masked: b[1]&0x80 != 0}
		n, h := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return nil, errors.New("a frame header cut in its length")
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return nil, errors.New("a frame header cut in its length")
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		if f.masked {
			h += 4
		}
		if uint64(len(b)) < uint64(h)+n {
			return nil, fmt.Errorf("a frame of %d bytes cut after %d", n, len(b)-h)
		}
		f.payload = b[h : uint64(h)+n]
		out = append(out, f)
		b = b[uint64(h)+n:]
	}
	return out, nil
}

// message is the i-th test message: sizes across the three length forms.
func message(i int) []byte {
	size := []int{3, 125, 126, 300, 65535, 65536, 70000}[i%7]
	b := bytes.Repeat([]byte{'a' + byte(i%26)}, size)
	copy(b, fmt.Sprintf("%06d", i))
	return b
}

// TestWebSocketBatchWriterAssumptions checks every assumption of
// wsbatch.go about coder/websocket, on a real connection: batches written
// while the library pings, answers the client's pings and closes.
func TestWebSocketBatchWriterAssumptions(t *testing.T) {
	const messages = 700
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		rec      *recordingConn
		hijacked bool
		closeErr error
		err      error
	}
	done := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkHandshake(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rw := &recordingWriter{ResponseWriter: w}
		c, out, err := acceptBatched(rw, r)
		if err != nil {
			done <- result{err: err}
			return
		}
		res := result{rec: rw.conn, hijacked: out.conn.Conn == net.Conn(rw.conn)}
		// The library reads (and so answers the client's pings) while
		// the batches go out and it pings the client itself.
		readCtx, stopReading := context.WithCancel(ctx)
		go func() {
			for {
				if _, _, err := c.Read(readCtx); err != nil {
					return
				}
			}
		}()
		var (
			pings   sync.WaitGroup
			pingErr error
		)
		pings.Go(func() {
			for range 20 {
				if pingErr = c.Ping(ctx); pingErr != nil {
					return
				}
			}
		})
		for i := range messages {
			if err := out.Message(message(i)); err != nil {
				res.err = err
				break
			}
			if i%5 == 4 {
				if err := out.Flush(); err != nil {
					res.err = err
					break
				}
			}
		}
		if err := out.Flush(); err != nil && res.err == nil {
			res.err = err
		}
		pings.Wait()
		if pingErr != nil && res.err == nil {
			res.err = fmt.Errorf("ping: %w", pingErr)
		}
		res.closeErr = c.Close(closeTooSlow, "too slow: test")
		stopReading()
		done <- res
	}))
	defer srv.Close()

	// The client offers compression: the gateway must decline it.
	c, resp, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("assumption 2: the handshake negotiated %q; the batch writer's frames are uncompressed", ext)
	}
	var pings sync.WaitGroup
	pings.Go(func() {
		for range 20 {
			if err := c.Ping(ctx); err != nil {
				return
			}
		}
	})
	for i := range messages {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := message(i); typ != websocket.MessageText || !bytes.Equal(b, want) {
			t.Fatalf("message %d: %v of %d bytes starting %q, want text of %d bytes starting %q", i, typ, len(b), b[:min(len(b), 8)], len(want), want[:8])
		}
	}
	// Reading on answers the server's pings and takes the pongs to the
	// client's, until the close.
	_, _, err = c.Read(ctx)
	pings.Wait()
	if s, reason := websocket.CloseStatus(err), closeReason(err); s != closeTooSlow || reason != "too slow: test" {
		t.Errorf("assumption 5: the client read %v after every message, want close %d %q", err, closeTooSlow, "too slow: test")
	}

	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if !res.hijacked {
		t.Error("assumption 1: the batch writer does not write on the connection Accept hijacked")
	}
	if res.closeErr != nil {
		t.Errorf("assumption 5: the close handshake did not complete: %v", res.closeErr)
	}
	res.rec.mu.Lock()
	defer res.rec.mu.Unlock()
	opcodes := map[byte]int{}
	for i, w := range res.rec.writes {
		frames, err := parseFrames(w)
		if err != nil {
			t.Fatalf("assumption 3: write %d of %d bytes is not whole frames: %v", i, len(w), err)
		}
		for _, f := range frames {
			opcodes[f.opcode]++
			if f.rsv != 0 || f.masked || !f.fin {
				t.Errorf("assumption 2: write %d has a frame with RSV %#x, masked %v, FIN %v", i, f.rsv, f.masked, f.fin)
			}
		}
	}
	// Text frames are ours; pings (0x9), pongs (0xA) and the close (0x8)
	// the library's, all through the recorded connection.
	if opcodes[0x1] != messages || opcodes[0x9] != 20 || opcodes[0xA] == 0 || opcodes[0x8] != 1 {
		t.Errorf("assumption 1: frames written by opcode %v; want %d text, 20 pings, pongs, 1 close", opcodes, messages)
	}
	if res.rec.otherDeadlines != 0 {
		t.Errorf("assumption 4: read or read-write deadlines were set %d times", res.rec.otherDeadlines)
	}
	for _, d := range res.rec.writeDeadlines {
		if d.IsZero() {
			t.Errorf("assumption 4: something cleared the write deadline batchConn keeps")
		}
	}
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// TestWebSocketHandshakeProblems checks that a bad opening handshake is
// answered with a problem naming what is wrong, before Accept sees it.
func TestWebSocketHandshakeProblems(t *testing.T) {
	good := http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	for name, tc := range map[string]struct {
		edit  func(http.Header)
		field string
	}{
		"good":          {func(http.Header) {}, ""},
		"no connection": {func(h http.Header) { h.Del("Connection") }, "Connection"},
		"version 8":     {func(h http.Header) { h.Set("Sec-WebSocket-Version", "8") }, "Sec-WebSocket-Version"},
		"no key":        {func(h http.Header) { h.Del("Sec-WebSocket-Key") }, "Sec-WebSocket-Key"},
		"two keys":      {func(h http.Header) { h.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") }, "Sec-WebSocket-Key"},
		"short key":     {func(h http.Header) { h.Set("Sec-WebSocket-Key", "c2hvcnQ=") }, "Sec-WebSocket-Key"},
	} {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Header = good.Clone()
		tc.edit(r.Header)
		err := checkHandshake(r)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var e *platform.Error
		if !errors.As(err, &e) || e.Code != platform.EBADREQUEST || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("%s: %#v, want a bad request naming %s", name, err, tc.field)
		}
	}
}
