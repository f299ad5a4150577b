package invoke

import (
	"net"
	"net/http"
	"time"
)

// Connection pool limits shared by both transports.
const (
	// maxIdlePerAgent is how many idle connections are kept per agent
	// address (scheme, host and port).
	maxIdlePerAgent = 256
	// IdleConnTimeout is how long a kept-alive connection to an agent may
	// stay idle before the gateway closes it.
	IdleConnTimeout = 90 * time.Second
	// tlsHandshakeTimeout bounds a TLS handshake with an https agent.
	tlsHandshakeTimeout = 10 * time.Second
)

// newStdTransport returns net/http's Transport tuned for calling agents:
// HTTP/1.1 only, no proxy, no transparent gzip, headers bounded at
// maxHeadBytes, up to maxIdlePerAgent idle connections per agent address
// closed after idleTimeout idle, and every connection opened by dialer,
// where a Guard sees the address.
func newStdTransport(dialer *net.Dialer, idleTimeout time.Duration) *http.Transport {
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
