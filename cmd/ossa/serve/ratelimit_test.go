package serve_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	neturl "net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
)

// bearerKeys authenticates "Authorization: Bearer <key>" for any key that
// starts with "k" as API key <key>, and refuses anything else.
var bearerKeys = ohttp.AuthenticatorFunc(func(r *http.Request) (*platform.Principal, error) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !strings.HasPrefix(key, "k") {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "unknown API key")
	}
	return &platform.Principal{Kind: platform.PrincipalAPIKey, Subject: key, Namespace: platform.DefaultNamespace,
		Namespaces: []string{platform.DefaultNamespace}, Scopes: []platform.Scope{platform.ScopeAdmin}}, nil
})

// TestRateLimitAcrossReplicas runs two replicas on one PostgreSQL and one
// Redis (reached through a proxy the test closes and opens) with
// API_RATE_LIMIT=10, and alternates requests between them: a key gets 10
// in all, not 10 from each, and so do failed authentications from one
// address. While Redis is away each replica counts on its own, says so
// once in its log and is degraded; once Redis is back, the limit is
// shared again.
func TestRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	u, err := neturl.Parse(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	_, _, pg := testenv.PostgresSchema(t)
	px := testenv.StartProxy(t, u.Host)
	u.Host = px.Addr
	prefix := "ossa-test:" + testenv.RandomName() + ":"
	const limit = 10
	type replica struct {
		*ossatest.Platform
		logs *syncBuffer
	}
	start := func() replica {
		logs := &syncBuffer{}
		p := ossatest.Start(t, ossatest.WithLogs(logs), ossatest.WithConfig(func(c *serve.Config) {
			c.PostgresURL, c.RedisURL, c.RedisPrefix, c.RateLimit = pg, u.String(), prefix, limit
		}), ossatest.WithGateway(func(s *ohttp.Server) {
			s.Authenticator = bearerKeys
			// The test's requests come from an address of its choosing.
			s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}))
		return replica{p, logs}
	}
	replicas := []replica{start(), start()}

	var n atomic.Int64 // numbers the keys of the health checks, each its own
	get := func(r replica, path, key string, from ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", r.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Real-IP", "192.0.2.1")
		if len(from) > 0 {
			req.Header.Set("X-Real-IP", from[0])
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	health := func(r replica) ohttp.Health {
		t.Helper()
		resp, b := get(r, "/health", "khealth"+strconv.FormatInt(n.Add(1), 10))
		var h ohttp.Health
		if err := json.Unmarshal(b, &h); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("health: %d %s", resp.StatusCode, b)
		}
		return h
	}
	// alternate sends 2*limit requests with key, alternately to each
	// replica, and counts the answers by status.
	alternate := func(path, key string, from ...string) map[int]int {
		t.Helper()
		counts := map[int]int{}
		for i := range 2 * limit {
			resp, b := get(replicas[i%2], path, key, from...)
			counts[resp.StatusCode]++
			if resp.StatusCode == http.StatusTooManyRequests {
				var p ohttp.Problem
				if err := json.Unmarshal(b, &p); err != nil || p.Type != "urn:ossa:problem:rate_limited" ||
					resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("429: %v %s", resp.Header, b)
				}
				if retry, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 6 {
					t.Fatalf("Retry-After %q, want 1 to 6 s (10 a minute)", resp.Header.Get("Retry-After"))
				}
				if resp.Header.Get("RateLimit-Limit") != "10" || resp.Header.Get("RateLimit-Remaining") != "0" {
					t.Fatalf("429's RateLimit headers: %v", resp.Header)
				}
			}
		}
		return counts
	}

	for _, r := range replicas {
		if h := health(r); h.Status != "healthy" || h.Dependencies.RateLimit.Backend != "redis" || h.Dependencies.RateLimit.Status != "connected" {
			t.Fatalf("health at the start: %+v", h)
		}
	}
	if got := alternate("/api/v1/agents", "k1"); got[200] != limit || got[429] != limit {
		t.Fatalf("one key across two replicas: %v, want %d of 200 and %d of 429", got, limit, limit)
	}
	if got := alternate("/api/v1/agents", "", "198.51.100.1"); got[401] != limit || got[429] != limit {
		t.Fatalf("failed authentications of one address across two replicas: %v, want %d of 401 and %d of 429", got, limit, limit)
	}

	// Redis goes away: each replica counts on its own, so a key gets its
	// limit from each; each says it once, and is degraded.
	px.Close()
	if got := alternate("/api/v1/agents", "k2"); got[200] != 2*limit {
		t.Fatalf("one key across two replicas with redis away: %v, want %d of 200", got, 2*limit)
	}
	for i, r := range replicas {
		h := health(r)
		if rl := h.Dependencies.RateLimit; h.Status != "degraded" || rl.Status != "down" || !strings.Contains(rl.Error, "per replica") {
			t.Fatalf("replica %d's health with redis away: %+v", i, h)
		}
		if got := strings.Count(r.logs.String(), `"msg":"rate limiting in redis failed`); got != 1 {
			t.Fatalf("replica %d logged the fall back %d times, want once:\n%s", i, got, r.logs)
		}
		_, b := get(r, "/metrics", "kscrape")
		if !strings.Contains(string(b), "\nossa_rate_limit_fallback 1\n") || !strings.Contains(string(b), "\nossa_rate_limit_fallbacks_total 1\n") {
			t.Fatalf("replica %d's metrics with redis away lack the fallback:\n%s", i, b)
		}
	}

	// Redis is back: within a second or so each replica is back on it
	// (a request, or /health, tries it), healthy, and the limit is shared.
	px.Open()
	for i, r := range replicas {
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			h := health(r)
			if h.Status == "healthy" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d still %s 15 s after redis came back: %+v", i, h.Status, h.Dependencies)
			}
		}
		if got := strings.Count(r.logs.String(), `"msg":"rate limiting in redis works again`); got != 1 {
			t.Fatalf("replica %d logged the return %d times, want once", i, got)
		}
	}
	if got := alternate("/api/v1/agents", "k3"); got[200] != limit || got[429] != limit {
		t.Fatalf("one key across two replicas once redis is back: %v", got)
	}
}
