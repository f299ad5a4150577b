package invoke

import (
	"net"
	"net/http"
	"time"
)

// The agent transport is net/http's Transport, tuned for calling agents.
// A hand-written HTTP/1.1 client that made each call on the caller's
// goroutine was measured against it in issue 12 and saved 10–15 % of the
// gateway's CPU per execute call, and nothing measurable per workflow step;
// not enough to keep a connection pool of our own (docs/benchmarks.md,
// "Agent transport").

const (
	// maxIdlePerAgent is how many idle connections are kept per agent
	// address (scheme, host and port).
	maxIdlePerAgent = 256
	// IdleConnTimeout is how long a kept-alive connection to an agent may
	// stay idle before the gateway closes it.
	IdleConnTimeout = 90 * time.Second
	// tlsHandshakeTimeout bounds a TLS handshake with an https agent.
	tlsHandshakeTimeout = 10 * time.Second
	// maxHeadBytes bounds the status line and headers of an agent's
	// answer; the body's own limit is Client.MaxResponseBytes.
	maxHeadBytes = 1 << 20
)

// newTransport returns the transport of every call to agents: HTTP/1.1
// only, over TLS for https (HTTP/2 would carry every call to an agent on
// one connection, which a Kubernetes Service balances as one, and costs
// more CPU per call: docs/benchmarks.md), no proxy from the environment,
// no transparent gzip, answers' heads bounded at maxHeadBytes, up to
// maxIdlePerAgent idle connections per agent address, each closed after
// idleTimeout idle, and every connection opened by dialer, whose Guard
// sees the address. A request with an Idempotency-Key (every call of a
// step) or a GET that meets a kept connection the agent closed is sent
// again on a new one, by net/http's rule.
func newTransport(dialer *net.Dialer, idleTimeout time.Duration) *http.Transport {
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		MaxIdleConns:           0, // no limit across agents
		MaxIdleConnsPerHost:    maxIdlePerAgent,
		IdleConnTimeout:        idleTimeout,
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeadBytes,
	}
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	return t
}
