package http_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/inmem"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	resp, _ := g.do(t, "GET", "/healthz", "", nil, "X-Request-ID", "caller-id-42")
	if got := resp.Header.Get("X-Request-ID"); got != "caller-id-42" {
		t.Fatalf("echoed X-Request-ID = %q", got)
	}
	resp, _ = g.do(t, "GET", "/healthz", "", nil, "X-Request-ID", "bad\"id")
	if got := resp.Header.Get("X-Request-ID"); len(got) != 32 {
		t.Fatalf("generated X-Request-ID = %q, want 32 hex digits", got)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for _, path := range []string{"/health", "/api/v1/nothing"} {
		resp, _ := g.do(t, "GET", path, "", nil)
		for header, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := resp.Header.Get(header); !strings.Contains(got, want) {
				t.Errorf("%s %s = %q, want %q", path, header, got, want)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) { s.CORSOrigins = []string{"http://localhost:3000"} })

	resp, _ := g.do(t, "GET", "/api/v1/agents", "", nil, "Origin", "http://localhost:3000")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Fatalf("allowed origin: Access-Control-Allow-Origin = %q", got)
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
		t.Fatalf("exposed headers = %q", resp.Header.Get("Access-Control-Expose-Headers"))
	}

	resp, b := g.do(t, "OPTIONS", "/api/v1/agents", "", nil, "Origin", "http://localhost:3000",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight: %d %v %s", resp.StatusCode, resp.Header, b)
	}

	resp, _ = g.do(t, "GET", "/api/v1/agents", "", nil, "Origin", "http://evil.example")
	for h := range resp.Header {
		if strings.HasPrefix(h, "Access-Control-") {
			t.Fatalf("other origin got %s", h)
		}
	}
	resp, b = g.do(t, "OPTIONS", "/api/v1/agents", "", nil, "Origin", "http://evil.example", "Access-Control-Request-Method", "POST")
	problemOf(t, resp, b, http.StatusForbidden)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("preflight from another origin was allowed")
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	const limit = 5
	g := newGateway(t, func(s *ohttp.Server) { s.Limiter = inmem.NewRateLimiter(limit) })
	for i := range limit {
		resp, b := g.do(t, "GET", "/api/v1/agents", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if got := resp.Header.Get("RateLimit-Remaining"); got != strconv.Itoa(limit-1-i) {
			t.Fatalf("request %d: RateLimit-Remaining = %q", i, got)
		}
		if resp.Header.Get("RateLimit-Limit") != strconv.Itoa(limit) {
			t.Fatalf("RateLimit-Limit = %q", resp.Header.Get("RateLimit-Limit"))
		}
	}
	resp, b := g.do(t, "GET", "/api/v1/agents", "", nil)
	problemOf(t, resp, b, http.StatusTooManyRequests)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	// 5 a minute: one token every 12 s.
	if err != nil || retry < 1 || retry > 12 {
		t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	// Probes are never limited.
	if resp, _ := g.do(t, "GET", "/healthz", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz limited: %d", resp.StatusCode)
	}
}

func TestRateLimitPerClientBehindProxy(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) {
		s.Limiter = inmem.NewRateLimiter(1)
		s.TrustedProxies = mustPrefixes(t, "127.0.0.0/8")
	})
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		resp, b := g.do(t, "GET", "/api/v1/agents", "", nil, "X-Forwarded-For", "198.51.100.9, "+client)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first request of %s: %d %s", client, resp.StatusCode, b)
		}
	}
	resp, b := g.do(t, "GET", "/api/v1/agents", "", nil, "X-Forwarded-For", "203.0.113.1")
	problemOf(t, resp, b, http.StatusTooManyRequests)
}
