package http

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
)

// The WebSocket batch writer. The gateway sends a client's messages in
// batches: it puts the frames of many messages together itself and sends
// them with one write, one system call, where coder/websocket would flush,
// and so write, after every message. The library still does everything
// else on the connection: the handshake, reading, answering pings, pinging
// and the close handshake.
//
// Writing beside the library relies on how it behaves, which it does not
// document. These are the assumptions, each tested in wsbatch_test.go
// against wsCheckedVersion:
//
//  1. Accept takes the connection through the ResponseWriter's Hijack and
//     writes every frame through the bufio.Writer it returns, onto the
//     net.Conn it returns, so that batchConn sees every byte sent.
//  2. No extension is negotiated (CompressionDisabled, so no
//     permessage-deflate): the frames written here are plain text frames,
//     and no compression state of the library's spans messages.
//  3. The library writes each frame it sends (pong, ping, close) whole, in
//     one Write of that writer's flush, so that batchConn's lock, taken per
//     Write, keeps its frames and the batches from interleaving.
//  4. The library never sets a deadline on the connection: batchConn keeps
//     the write deadline and remembers it.
//  5. Close sends its close frame after whatever was written before it and
//     waits for the client's, so that a client reads every batch, then the
//     status and reason.
//
// A library upgrade must be checked against these again: the test fails
// when go.mod names another version than wsCheckedVersion.
const wsCheckedVersion = "v1.8.15"

// acceptOptions are the options of every Accept: no compression
// (assumption 2); the origin is checked before, so that a refusal is a
// problem like every other error.
var acceptOptions = &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled}

// acceptBatched completes the WebSocket handshake of r, checked by
// checkHandshake, and returns the library's connection and the batch
// writer that sends messages on it.
func acceptBatched(w http.ResponseWriter, r *http.Request) (*websocket.Conn, *batchWriter, error) {
	hj := &batchingHijacker{ResponseWriter: w}
	c, err := websocket.Accept(hj, r, acceptOptions)
	if err != nil {
		return nil, nil, err
	}
	return c, &batchWriter{conn: hj.conn}, nil
}

// checkHandshake checks a WebSocket opening handshake (RFC 6455, 4.2.1)
// as Accept does, so that a bad one is answered with a problem that says
// what is wrong; Accept answers in plain text.
func checkHandshake(r *http.Request) error {
	var p platform.Problems
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		p.Add("Connection", "must contain Upgrade")
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		p.Add("Sec-WebSocket-Version", "must be 13, the only version of the protocol; got %q", v)
	}
	switch keys := r.Header.Values("Sec-WebSocket-Key"); {
	case len(keys) == 0:
		p.Add("Sec-WebSocket-Key", "is missing")
	case len(keys) > 1:
		p.Add("Sec-WebSocket-Key", "is given %d times; want once", len(keys))
	default:
		if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
			p.Add("Sec-WebSocket-Key", "must be 16 bytes in base64")
		}
	}
	if !r.ProtoAtLeast(1, 1) {
		p.Add("protocol", "a WebSocket handshake needs HTTP/1.1; got %s", r.Proto)
	}
	if len(p) > 0 {
		return &platform.Error{Code: platform.EBADREQUEST, Message: "the WebSocket handshake is not valid", Fields: p}
	}
	return nil
}

// headerHasToken reports whether a comma-separated header of h holds
// token, in any case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// batchWriter puts messages together into a batch of frames and sends the
// batch on the connection in one write.
type batchWriter struct {
	conn *batchConn
	// out is the batch of frames being put together.
	out []byte
}

// writeBatch is how many bytes of messages are sent at most at once: a
// long replay or a client far behind goes out in writes of this size.
const writeBatch = 32 << 10

// Message adds one text message made of parts to the batch, and sends the
// batch once it is big enough.
func (b *batchWriter) Message(parts ...[]byte) error {
	b.out = appendFrame(b.out, parts...)
	if len(b.out) > writeBatch {
		return b.Flush()
	}
	return nil
}

// Flush sends the batch.
func (b *batchWriter) Flush() error {
	if len(b.out) == 0 {
		return nil
	}
	_, err := b.conn.Write(b.out)
	if cap(b.out) > 4*writeBatch {
		b.out = nil // a burst is over: give its memory back
	} else {
		b.out = b.out[:0]
	}
	return err
}

// batchingHijacker hands websocket.Accept the hijacked connection as a
// batchConn.
type batchingHijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *batchingHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// net/http flushed the response before hijacking, so the writer it
	// returns is empty and a writer over the batchConn may replace it.
	h.conn = &batchConn{Conn: conn}
	return h.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriterSize(h.conn, 4096)), nil
}

// batchConn is the connection under the library and the batch writer:
// writes take turns, one whole frame (the library's) or one batch of
// frames per Write.
//
// A write that cannot finish within wsWriteTimeout fails. The deadline is
// moved forward only when less than half of that is left, not before and
// after every write: under load a connection takes dozens of batches a
// second, and each deadline change costs a timer update.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	deadline time.Time
}

// Write writes p, one whole frame or a batch of frames.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.deadline.Sub(now) < wsWriteTimeout/2 {
		c.deadline = now.Add(wsWriteTimeout)
		_ = c.SetWriteDeadline(c.deadline)
	}
	return c.Conn.Write(p)
}

// appendFrame appends to b one unmasked WebSocket text frame (RFC 6455,
// 5.2) whose payload is the concatenation of parts.
func appendFrame(b []byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	switch {
	case n < 126:
		b = append(b, 0x81, byte(n))
	case n < 1<<16:
		b = append(b, 0x81, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x81, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
