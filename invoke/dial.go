package invoke

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Guard decides whether the gateway may open a connection to addr, the IP
// address and port it is about to connect to, after the agent's host name
// was resolved. It is asked at dial time, for every connection the Client's
// transport opens, whichever call opens it, and once for each address
// tried when a name resolves to several. network is "tcp4" or "tcp6". A
// non-nil error refuses the address: nothing is sent to it, and a call for
// which every address was refused fails permanently with a message that
// quotes the error.
//
// A kept-alive connection was judged when it was opened and is reused only
// for calls to the same scheme, host and port; a Guard whose answers
// change should be followed by Client.CloseIdleConnections. Redirects are
// never followed, so no call reaches an address its agent's endpoint did
// not name. A Guard must be safe for concurrent use and should not block:
// it runs on the dial's path.
type Guard func(ctx context.Context, network string, addr netip.AddrPort) error

// refusedError is a connection a Guard refused.
type refusedError struct {
	addr netip.AddrPort
	err  error
}

func (e *refusedError) Error() string {
	if !e.addr.IsValid() {
		return fmt.Sprintf("the gateway may not connect: %v", e.err)
	}
	return fmt.Sprintf("the gateway may not connect to %s: %v", e.addr, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

// Dial timeouts: opening a TCP connection gives up after dialTimeout, and
// its kept-alive probes start after keepAlive idle.
const (
	dialTimeout = 30 * time.Second
	keepAlive   = 30 * time.Second
)

// newDialer returns the dialer of every connection to an agent: guard,
// when it returns one, is asked about each address after name resolution
// and before the connection is opened (net.Dialer's ControlContext runs
// between the socket's creation and its connect).
func newDialer(guard func() Guard) *net.Dialer {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	if guard == nil {
		return d
	}
	d.ControlContext = func(ctx context.Context, network, address string, _ syscall.RawConn) error {
		g := guard()
		if g == nil {
			return nil
		}
		addr, err := netip.ParseAddrPort(address)
		if err != nil {
			// The dialer passes the resolved IP address and port; anything
			// else cannot be judged, so it is refused.
			return &refusedError{err: fmt.Errorf("%q is not an IP address and port", address)}
		}
		if err := g(ctx, network, addr); err != nil {
			return &refusedError{addr: addr, err: err}
		}
		return nil
	}
	return d
}
