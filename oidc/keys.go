package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// maxDocumentBytes bounds the discovery document and the key set read
// from the issuer: go-oidc reads whatever it is sent.
const maxDocumentBytes = 1 << 20

// errThrottled is what the key set's transport answers, without asking
// the issuer, within Config.KeyRefreshInterval of the last fetch.
var errThrottled = errors.New("the issuer's keys were fetched too recently to be fetched again")

// keyGate is the transport of the key set's fetches: it lets one through
// per KeyRefreshInterval, checks that the answer is a JWK Set of bounded
// size before go-oidc reads it, and remembers how the last fetch went
// (for Ping, and to tell a key that is unknown from one that could not be
// looked for).
type keyGate struct {
	base     http.RoundTripper
	interval time.Duration

	mu   sync.Mutex
	last time.Time // when the last fetch started
	err  error     // how the last finished fetch failed; nil if it succeeded
	done bool      // a fetch has finished
}

func (g *keyGate) RoundTrip(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	if !g.last.IsZero() && time.Since(g.last) < g.interval {
		g.mu.Unlock()
		return nil, errThrottled
	}
	g.last = time.Now()
	g.mu.Unlock()
	resp, err := g.fetch(req)
	g.mu.Lock()
	g.err, g.done = err, true
	g.mu.Unlock()
	return resp, err
}

func (g *keyGate) fetch(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the issuer's key set %s answered %s", req.URL.Redacted(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the issuer's key set: %w", err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("the issuer's key set is over %d bytes", maxDocumentBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || set.Keys == nil {
		return nil, fmt.Errorf("the issuer's key set %s is not a JWK Set (a JSON object with keys)", req.URL.Redacted())
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// state is how the last fetch went: ok once a fetch has succeeded and
// none failed since; err the failure of the last one.
func (g *keyGate) state() (ok bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done && g.err == nil, g.err
}

// limitBody is the transport of discovery: it bounds what is read.
type limitBody struct{ base http.RoundTripper }

func (l limitBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: io.LimitReader(resp.Body, maxDocumentBytes+1), c: resp.Body}
	return resp, nil
}

type limitedBody struct {
	r io.Reader
	c io.Closer
	n int
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.n += n; b.n > maxDocumentBytes {
		return n, fmt.Errorf("the issuer's answer is over %d bytes", maxDocumentBytes)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }

// verification is what the key set learnt of one token, for Verify to
// say why it was refused: go-oidc's errors are text.
type verification struct {
	called  bool   // the signature was looked at
	payload []byte // the verified payload: the signature is good
	err     error  // why the signature was not verified
}

type verificationKey struct{}

// failed records that the key set go-oidc was given could not be read,
// though it came: a key it cannot decode.
func (g *keyGate) failed(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.err, g.done = err, true
}

// keySet is go-oidc's remote key set (cached, fetched again on an unknown
// key ID), recording each verification's outcome in the verification its
// context carries, and in the gate a key set go-oidc could not decode.
type keySet struct {
	remote *gooidc.RemoteKeySet
	gate   *keyGate
}

func (k keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if err != nil && fetchFailed(err) && !errors.Is(err, errThrottled) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		k.gate.failed(err)
	}
	if v, ok := ctx.Value(verificationKey{}).(*verification); ok {
		v.called, v.payload, v.err = true, payload, err
	}
	return payload, err
}

// fetchFailed reports whether err, from go-oidc's RemoteKeySet, is a
// failure to fetch the keys rather than a signature no key verifies:
// RemoteKeySet wraps the former (fetching keys: %w) and returns the
// latter bare (a test pins this, against a key set that is down).
func fetchFailed(err error) bool {
	return errors.Unwrap(err) != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
