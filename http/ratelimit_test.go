package http_test

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/redis"
)

// keyAuthenticator knows the keys "Bearer k1", "Bearer k2"... as API keys
// k1, k2...: any other credentials, or none, are refused. It counts the
// requests it was asked about.
func keyAuthenticator(calls *atomic.Int64) ohttp.AuthenticatorFunc {
	return func(r *http.Request) (*platform.Principal, error) {
		calls.Add(1)
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer k")
		if _, err := strconv.Atoi(key); !ok || err != nil {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "unknown API key")
		}
		return &platform.Principal{Kind: platform.PrincipalAPIKey, Subject: "k" + key, Namespace: platform.DefaultNamespace,
			Namespaces: []string{platform.DefaultNamespace}, Scopes: []platform.Scope{platform.ScopeAdmin}}, nil
	}
}

// TestRateLimitKeys: an authenticated request counts against its
// principal, from whatever address; failed authentications count against
// their address, and once it is spent even a right key from it is
// refused before it is checked; probes and scrapes stay unlimited.
func TestRateLimitKeys(t *testing.T) {
	t.Parallel()
	const limit = 2
	var calls atomic.Int64
	g := newGateway(t, func(s *ohttp.Server) {
		s.Limiter = inmem.NewRateLimiter(limit)
		s.Authenticator = keyAuthenticator(&calls)
		s.TrustedProxies = mustPrefixes(t, "127.0.0.0/8", "::1/128")
	})
	from := func(addr, key string) []string {
		h := []string{"X-Forwarded-For", addr}
		if key != "" {
			h = append(h, "Authorization", "Bearer "+key)
		}
		return h
	}
	get := func(want int, headers ...string) *http.Response {
		t.Helper()
		resp, b := g.do(t, "GET", "/api/v1/agents", "", nil, headers...)
		if want == http.StatusOK {
			if resp.StatusCode != want {
				t.Fatalf("%v: %d %s, want %d", headers, resp.StatusCode, b, want)
			}
			return resp
		}
		problemOf(t, resp, b, want)
		return resp
	}

	// k1 spends its allowance from two addresses: the third request is
	// refused, from a third address too.
	get(200, from("203.0.113.1", "k1")...)
	if resp := get(200, from("203.0.113.2", "k1")...); resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("k1's second request: RateLimit-Remaining %q", resp.Header.Get("RateLimit-Remaining"))
	}
	if resp := get(429, from("203.0.113.3", "k1")...); resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// k2, from k1's address, has its own.
	get(200, from("203.0.113.1", "k2")...)
	get(200, from("203.0.113.1", "k2")...)

	// Wrong keys and none count against the address: 401 while it has
	// some left, then 429.
	get(401, from("198.51.100.1", "wrong")...)
	get(401, from("198.51.100.1", "")...)
	get(429, from("198.51.100.1", "wrong")...)
	// Now a right key from that address is refused as well, without its
	// credentials being checked: whether it is right is not told.
	before := calls.Load()
	resp := get(429, from("198.51.100.1", "k3")...)
	if calls.Load() != before {
		t.Fatal("credentials from a refused address were checked")
	}
	if retry, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 30 {
		t.Fatalf("Retry-After %q, want about 30 s (2 a minute)", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("RateLimit-Limit") != "2" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("RateLimit headers of the early refusal: %v", resp.Header)
	}
	// k3 from elsewhere, and a wrong key from elsewhere, are not refused.
	get(200, from("198.51.100.2", "k3")...)
	get(401, from("198.51.100.3", "wrong")...)

	// Probes and scrapes are never limited, nor counted.
	for range 2 * limit {
		if resp, b := g.do(t, "GET", "/healthz", "", nil, from("198.51.100.1", "")...); resp.StatusCode != 200 {
			t.Fatalf("/healthz: %d %s", resp.StatusCode, b)
		}
		if resp, _ := g.do(t, "GET", "/metrics", "", nil, from("198.51.100.1", "k3")...); resp.StatusCode == 429 {
			t.Fatal("/metrics was rate-limited")
		}
	}
}

// TestRateLimitAnonymous: with authentication off every request is
// anonymous, and counts against its address, as before principals.
func TestRateLimitAnonymous(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) {
		s.Limiter = inmem.NewRateLimiter(1)
		s.TrustedProxies = mustPrefixes(t, "127.0.0.0/8", "::1/128")
	})
	if resp, b := g.do(t, "GET", "/api/v1/agents", "", nil, "X-Forwarded-For", "203.0.113.1"); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	resp, b := g.do(t, "GET", "/api/v1/agents", "", nil, "X-Forwarded-For", "203.0.113.1")
	problemOf(t, resp, b, http.StatusTooManyRequests)
	// A bad namespace header fails before the handler: it counts too.
	resp, b = g.do(t, "GET", "/api/v1/agents", "", nil, "X-Forwarded-For", "203.0.113.2", ohttp.NamespaceHeader, "Not A Namespace")
	problemOf(t, resp, b, http.StatusBadRequest)
	resp, b = g.do(t, "GET", "/api/v1/agents", "", nil, "X-Forwarded-For", "203.0.113.2")
	problemOf(t, resp, b, http.StatusTooManyRequests)
}

// TestHealthRateLimit: /health names the limiter and where it counts,
// and is degraded while the Redis limiter counts in process.
func TestHealthRateLimit(t *testing.T) {
	t.Parallel()
	health := func(g *gateway) ohttp.Health {
		t.Helper()
		resp, b := g.do(t, "GET", "/health", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("health: %d %s", resp.StatusCode, b)
		}
		var h ohttp.Health
		mustUnmarshal(t, b, &h)
		return h
	}
	if h := health(newGateway(t)); h.Status != "healthy" || h.Dependencies.RateLimit.Status != "disabled" {
		t.Fatalf("without a limiter: %+v", h)
	}
	if h := health(newGateway(t, func(s *ohttp.Server) { s.Limiter = inmem.NewRateLimiter(10) })); h.Status != "healthy" ||
		h.Dependencies.RateLimit.Status != "connected" || h.Dependencies.RateLimit.Backend != "memory" {
		t.Fatalf("in process: %+v", h)
	}

	quiet := slog.New(slog.DiscardHandler)
	open := func(url string) *redis.Client {
		c, err := redis.Open(url, redis.WithPrefix("ossa-test:"+testenv.RandomName()+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Redis is away: the first limited request falls back (and is
	// answered by the fallback), and from then on /health is degraded,
	// saying why.
	dead := open("redis://" + freeAddr(t) + "/0")
	g := newGateway(t, func(s *ohttp.Server) {
		s.Limiter = dead.RateLimiter(redis.RateLimiterConfig{PerMinute: 10, Fallback: inmem.NewRateLimiter(10), Logger: quiet})
	})
	if resp, b := g.do(t, "GET", "/api/v1/agents", "", nil); resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != "9" {
		t.Fatalf("a request on the fallback: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	h := health(g)
	if rl := h.Dependencies.RateLimit; h.Status != "degraded" || rl.Status != "down" || rl.Backend != "redis" ||
		!strings.Contains(rl.Error, "per replica") {
		t.Fatalf("on the fallback: %+v", h)
	}

	// A reachable Redis: connected, shared.
	live := open(testenv.RedisURL(t))
	g = newGateway(t, func(s *ohttp.Server) {
		s.Limiter = live.RateLimiter(redis.RateLimiterConfig{PerMinute: 10, Fallback: inmem.NewRateLimiter(10), Logger: quiet})
		s.Redis = live
	})
	g.do(t, "GET", "/api/v1/agents", "", nil)
	if h := health(g); h.Status != "healthy" || h.Dependencies.RateLimit.Status != "connected" || h.Dependencies.RateLimit.Backend != "redis" {
		t.Fatalf("on redis: %+v", h)
	}
}
