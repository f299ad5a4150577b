// Package auth tells who calls the gateway: the http.Authenticator that
// checks API keys (and, when configured, OpenID Connect tokens), and the
// admin key the first start makes. docs/security.md describes the model.
package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// TokenVerifier checks a bearer token that is not an API key: an OpenID
// Connect token. EUNAUTHORIZED refuses it.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*platform.Principal, error)
}

// Defaults of Authenticator's settings.
const (
	// DefaultCacheTTL is how long a key read from the store is believed:
	// how soon a key revoked on another replica stops working there.
	DefaultCacheTTL = 10 * time.Second
	// DefaultTouchInterval is how often last-used times are written.
	DefaultTouchInterval = time.Minute
)

// Authenticator establishes a request's principal from its
// "Authorization: Bearer" credential: an API key (platform.APIKeyPrefix),
// checked against its stored hash, or any other token, given to Tokens.
// It serves as the gateway's http.Authenticator.
type Authenticator struct {
	// Keys keeps the API keys.
	Keys platform.KeyStore
	// Tokens verifies the bearer tokens that are not API keys; nil
	// refuses them.
	Tokens TokenVerifier
	// CacheTTL is how long a key read from Keys is believed;
	// DefaultCacheTTL when 0.
	CacheTTL time.Duration
	// Logger receives a line when last-used times cannot be written.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey
	used  map[string]time.Time
}

type cachedKey struct {
	key *platform.APIKey
	at  time.Time
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// errNoCredentials is the answer to a request without credentials.
var errNoCredentials = platform.Errorf(platform.EUNAUTHORIZED,
	"this route needs credentials: send \"Authorization: Bearer <API key>\" (ossa keys create makes keys)")

// Authenticate returns the principal of r's bearer credential.
func (a *Authenticator) Authenticate(r *http.Request) (*platform.Principal, error) {
	token, err := Bearer(r.Header)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(token, platform.APIKeyPrefix) {
		if a.Tokens == nil {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "the bearer token is not an API key (they start %q), and no OpenID Connect issuer is configured", platform.APIKeyPrefix)
		}
		return a.Tokens.Verify(r.Context(), token)
	}
	return a.key(r.Context(), token)
}

// Bearer returns the token of h's "Authorization: Bearer" header. None,
// several, or another scheme are EUNAUTHORIZED; the message never
// repeats the credential.
func Bearer(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", errNoCredentials
	case len(values) > 1:
		return "", platform.Errorf(platform.EUNAUTHORIZED, "send one Authorization header, not %d", len(values))
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", platform.Errorf(platform.EUNAUTHORIZED, "the Authorization header must be \"Bearer <API key>\"")
	}
	return strings.TrimSpace(token), nil
}

// errBadKey refuses a key that no record matches, without saying whether
// its prefix exists.
var errBadKey = platform.Errorf(platform.EUNAUTHORIZED, "the API key is not valid")

// key returns the principal of an API key.
func (a *Authenticator) key(ctx context.Context, token string) (*platform.Principal, error) {
	prefix, ok := platform.APIKeyLookup(token)
	if !ok {
		return nil, errBadKey
	}
	now := a.now()
	k, err := a.lookup(ctx, prefix, now)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(k.Hash, platform.HashAPIKey(token)) != 1 {
		return nil, errBadKey
	}
	if err := k.Usable(now); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.used == nil {
		a.used = map[string]time.Time{}
	}
	a.used[k.ID] = now
	a.mu.Unlock()
	return k.Principal(), nil
}

// lookup returns the key with prefix, from the cache while it is fresh.
func (a *Authenticator) lookup(ctx context.Context, prefix string, now time.Time) (*platform.APIKey, error) {
	ttl := a.CacheTTL
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	a.mu.Lock()
	c, ok := a.cache[prefix]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < ttl {
		return c.key, nil
	}
	k, err := a.Keys.FindKeyByPrefix(ctx, prefix)
	switch {
	case platform.ErrorCode(err) == platform.ENOTFOUND:
		return nil, errBadKey
	case err != nil:
		// %v: the cause is the gateway's, and its text may name the
		// database; the answer is a 503 that says only what is down.
		a.logger().WarnContext(ctx, "api key lookup failed", slog.String("error", err.Error()))
		return nil, platform.Errorf(platform.EUNAVAILABLE, "API keys cannot be checked now: the database does not answer")
	}
	a.mu.Lock()
	if a.cache == nil {
		a.cache = map[string]cachedKey{}
	}
	if len(a.cache) > 10000 {
		clear(a.cache) // more keys than any deployment has: someone is probing
	}
	a.cache[prefix] = cachedKey{key: k, at: now}
	a.mu.Unlock()
	return k, nil
}

// Forget drops what the cache holds of the key with prefix: a key revoked
// through this gateway stops working here at once (elsewhere within
// CacheTTL).
func (a *Authenticator) Forget(prefix string) {
	a.mu.Lock()
	delete(a.cache, prefix)
	a.mu.Unlock()
}

// Flush writes the last-used times gathered since the last Flush.
func (a *Authenticator) Flush(ctx context.Context) error {
	a.mu.Lock()
	used := a.used
	a.used = nil
	a.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	return a.Keys.TouchKeys(ctx, used)
}

// Run writes last-used times every interval (DefaultTouchInterval when 0)
// until ctx ends, then once more.
func (a *Authenticator) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultTouchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := a.Flush(context.WithoutCancel(ctx)); err != nil {
				a.logFlush(err)
			}
			return
		case <-t.C:
			if err := a.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.logFlush(err)
			}
		}
	}
}

func (a *Authenticator) logFlush(err error) {
	a.logger().Warn("api keys: last-used times not written", slog.String("error", err.Error()))
}

func (a *Authenticator) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
