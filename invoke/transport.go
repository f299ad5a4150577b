package invoke

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"
)

// transport is the http.RoundTripper of the Client that New returns. It
// makes each call on the calling goroutine: it takes a kept-alive HTTP/1.1
// connection to the agent, writes the request and reads the answer
// itself. net/http's Transport hands every request to a writer goroutine
// of the connection and every answer back from a reader goroutine, and on
// a machine with idle CPUs each hand-off wakes another thread; for a call
// to an agent next door those hand-offs cost more than the hop itself
// (docs/benchmarks.md, "Execute latency"). The standard library still
// does the HTTP: Request.Write writes the request and http.ReadResponse
// parses the answer; this type only keeps the connections.
//
// What it does not do, unlike net/http's: HTTP/2 (agents are called over
// HTTP/1.1, with TLS for https endpoints), proxies from HTTP_PROXY, and
// transparent gzip.
type transport struct {
	dialer *net.Dialer
	// tls configures connections to https endpoints; nil is the default.
	tls *tls.Config
	// maxIdle is how many idle connections are kept per agent address.
	maxIdle int
	// idleTimeout is how long an idle connection is kept: a timer closes
	// it then.
	idleTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*persistConn // by scheme://host:port, newest last
}

func newTransport(dialer *net.Dialer, idleTimeout time.Duration) *transport {
	return &transport{
		dialer:      dialer,
		maxIdle:     maxIdlePerAgent,
		idleTimeout: idleTimeout,
		idle:        map[string][]*persistConn{},
	}
}

// persistConn is one connection to an agent.
type persistConn struct {
	key  string
	conn net.Conn
	// br reads through limit, which bounds an answer's head.
	br        *bufio.Reader
	limit     *headLimit
	bw        *bufio.Writer
	idleSince time.Time
	// idleTimer closes the connection once it was idle for idleTimeout.
	idleTimer *time.Timer
}

// maxHeadBytes bounds the status line and headers of an agent's answer
// (and what the reader buffered ahead of them); the body's own limit is
// Client.MaxResponseBytes.
const maxHeadBytes = 1 << 20

// errHeadTooLarge fails a call whose answer's head is over maxHeadBytes.
var errHeadTooLarge = fmt.Errorf("its answer's status line and headers are over %d bytes", maxHeadBytes)

// headLimit reads from r, at most n bytes while n is not negative.
type headLimit struct {
	r io.Reader
	n int64
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeadTooLarge
	}
	p = p[:min(int64(len(p)), l.n)]
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// RoundTrip sends req and returns the answer, whose body gives the
// connection back when it has been read to the end and closed. A pooled
// connection that the agent closed while it was idle fails before
// anything is read; the request is then sent once more on a new one when
// it may be, by net/http's rule: a GET or HEAD, or a request with an
// Idempotency-Key (every call of a step has one), whose body can be read
// again.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		closeBody(req)
		return nil, fmt.Errorf("unsupported protocol scheme %q", req.URL.Scheme)
	}
	key := req.URL.Scheme + "://" + hostPort(req)
	for retried := false; ; retried = true {
		pc, reused, err := t.get(req.Context(), key, req)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := t.roundTrip(pc, req)
		if err == nil {
			return resp, nil
		}
		if retried || !reused || !stale(err) || !replayable(req) || req.Context().Err() != nil {
			return nil, err
		}
		again := *req
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			again.Body = body
		}
		req = &again
	}
}

// roundTrip writes req on pc and reads the answer's head. On an error pc
// is closed.
func (t *transport) roundTrip(pc *persistConn, req *http.Request) (*http.Response, error) {
	// The call's context ends it: cancelled or past its deadline, the
	// connection's deadline moves to the past, which fails the write or
	// read under way. The context's own error then tells why.
	stop := context.AfterFunc(req.Context(), func() { _ = pc.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		pc.conn.Close()
		return nil, err
	}
	if err := req.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	// The first byte apart: a connection that ends before it was never
	// answered (see stale); ReadResponse would call that an unexpected EOF.
	pc.limit.n = maxHeadBytes
	if _, err := pc.br.Peek(1); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(pc.br, req)
	// Informational answers (103 Early Hints) come before the real one.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(pc.br, req)
	}
	pc.limit.n = -1
	if err != nil {
		return fail(err)
	}
	resp.Body = &pooledBody{
		body:     resp.Body,
		t:        t,
		pc:       pc,
		stop:     stop,
		reusable: !resp.Close && !req.Close,
		eof:      resp.ContentLength == 0,
	}
	return resp, nil
}

// get returns an idle connection to key, or dials one.
func (t *transport) get(ctx context.Context, key string, req *http.Request) (pc *persistConn, reused bool, err error) {
	now := time.Now()
	t.mu.Lock()
	for conns := t.idle[key]; len(conns) > 0; conns = t.idle[key] {
		pc = conns[len(conns)-1]
		t.idle[key] = conns[:len(conns)-1]
		pc.idleTimer.Stop()
		if now.Sub(pc.idleSince) < t.idleTimeout {
			t.mu.Unlock()
			return pc, true, nil
		}
		pc.conn.Close()
	}
	t.mu.Unlock()

	addr := hostPort(req)
	var conn net.Conn
	if req.URL.Scheme == "https" {
		cfg := t.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = req.URL.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		conn, err = (&tls.Dialer{NetDialer: t.dialer, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = t.dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, false, err
	}
	limit := &headLimit{r: conn, n: -1}
	return &persistConn{key: key, conn: conn, br: bufio.NewReader(limit), limit: limit, bw: bufio.NewWriter(conn)}, false, nil
}

// put keeps pc for the next call to its address, or closes it when
// enough are kept.
func (t *transport) put(pc *persistConn) {
	t.mu.Lock()
	if conns := t.idle[pc.key]; len(conns) < t.maxIdle {
		pc.idleSince = time.Now()
		t.idle[pc.key] = append(conns, pc)
		if pc.idleTimer == nil {
			pc.idleTimer = time.AfterFunc(t.idleTimeout, func() { t.expire(pc) })
		} else {
			pc.idleTimer.Reset(t.idleTimeout)
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	pc.conn.Close()
}

// expire closes pc if it is still idle and has been for idleTimeout: its
// timer may have fired while a call took it, which then gave it back.
func (t *transport) expire(pc *persistConn) {
	t.mu.Lock()
	conns := t.idle[pc.key]
	i := slices.Index(conns, pc)
	if i < 0 || time.Since(pc.idleSince) < t.idleTimeout {
		t.mu.Unlock()
		return
	}
	t.idle[pc.key] = slices.Delete(conns, i, i+1)
	if len(t.idle[pc.key]) == 0 {
		delete(t.idle, pc.key)
	}
	t.mu.Unlock()
	pc.conn.Close()
}

// CloseIdleConnections closes the connections kept idle; http.Client's
// method of the same name calls it.
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*persistConn{}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, pc := range conns {
			pc.idleTimer.Stop()
			pc.conn.Close()
		}
	}
}

// pooledBody is an answer's body. Closed after it was read to the end, it
// gives its connection back to the pool; closed before, it closes the
// connection rather than read the rest.
type pooledBody struct {
	body     io.ReadCloser
	t        *transport
	pc       *persistConn
	stop     func() bool
	reusable bool
	eof      bool
	closed   bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("read on a closed body")
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	// stop reports false when the context already ended the call: the
	// connection's deadline is in the past and it cannot be kept.
	live := b.stop()
	if b.eof && b.reusable && live {
		_ = b.body.Close() // at EOF this reads nothing more
		b.t.put(b.pc)
		return nil
	}
	return b.pc.conn.Close()
}

// stale reports whether err is how a kept connection that the agent closed
// while it was idle fails: the write is refused or the read finds the end
// before any byte of an answer.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable reports whether req may be sent again.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	return req.Method == http.MethodGet || req.Method == http.MethodHead || req.Header.Get("Idempotency-Key") != ""
}

// hostPort is req's host with its port, the scheme's default if none.
func hostPort(req *http.Request) string {
	port := req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(req.URL.Hostname(), port)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
