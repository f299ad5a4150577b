package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"

	ohttp "github.com/ossa-platform/platform/http"
)

func mustPrefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	a := g.register(t, summarizer)
	g.do(t, "GET", "/api/v1/agents/"+a.ID, "", nil)
	g.do(t, "GET", "/api/v1/agents/summarizer", "", nil)
	g.do(t, "GET", "/no/such/route", "", nil)
	for _, path := range []string{"/api/v1/metrics", "/metrics"} {
		resp, b := g.do(t, "GET", path, "", nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		text := string(b)
		for _, want := range []string{
			// The route label is the pattern: two paths, one series.
			`http_requests_total{method="GET",route="/api/v1/agents/{ref}",status="200"} 2`,
			`http_requests_total{method="POST",route="/api/v1/agents",status="201"} 1`,
			`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`http_request_duration_seconds_bucket{method="GET",route="/api/v1/agents/{ref}",le="+Inf"} 2`,
			`http_requests_in_flight 1`,
			`ossa_agents{status="active",type="worker"} 1`,
			`go_goroutines`,
			`process_resident_memory_bytes`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		if strings.Contains(text, a.ID) {
			t.Errorf("%s has a raw path in a label", path)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	resp, b := g.do(t, "GET", "/health", "", nil)
	var h ohttp.Health
	mustUnmarshal(t, b, &h)
	if resp.StatusCode != 200 || h.Status != "healthy" || h.Version == "" || h.Dependencies.Database.Status != "connected" ||
		h.Dependencies.Database.Backend != "sqlite" || h.Dependencies.Database.LatencyMS == nil ||
		h.Dependencies.Redis.Status != "disabled" || h.Dependencies.Vector.Status != "connected" ||
		h.Dependencies.Vector.Backend == "" || h.Dependencies.Embeddings.Status != "connected" ||
		h.Dependencies.Embeddings.Backend != "lexical-v1" {
		t.Fatalf("health: %d %s", resp.StatusCode, b)
	}
	// The guide's shape: each dependency's status by its technology.
	if want := map[string]string{"sqlite": "connected", "redis": "disabled", h.Dependencies.Vector.Backend: "connected",
		"embeddings": "connected"}; !maps.Equal(h.Services, want) {
		t.Fatalf("services = %v, want %v", h.Services, want)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, b := g.do(t, "GET", path, "", nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func TestHealthDegradedAndUnhealthy(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) {
		s.Redis = pinger{errors.New("connection refused")}
		s.Vector = pinger{}
	})
	resp, b := g.do(t, "GET", "/health", "", nil)
	var h ohttp.Health
	mustUnmarshal(t, b, &h)
	if resp.StatusCode != 200 || h.Status != "degraded" || h.Dependencies.Redis.Status != "down" ||
		h.Dependencies.Redis.Error == "" || h.Dependencies.Vector.Status != "connected" ||
		h.Services["redis"] != "down" || h.Services["qdrant"] != "connected" {
		t.Fatalf("degraded: %d %s", resp.StatusCode, b)
	}

	g.db.Close() // the database goes away
	resp, b = g.do(t, "GET", "/health", "", nil)
	mustUnmarshal(t, b, &h)
	if resp.StatusCode != http.StatusServiceUnavailable || h.Status != "unhealthy" || h.Dependencies.Database.Status != "down" ||
		h.Services["sqlite"] != "down" {
		t.Fatalf("unhealthy: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/readyz", "", nil)
	problemOf(t, resp, b, http.StatusServiceUnavailable)
	if resp, _ := g.do(t, "GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("liveness fails with the database down: %d", resp.StatusCode)
	}
}

// TestOpenAPIMatchesRoutes fails when a route is registered but not
// documented, or documented but not registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	resp, b := g.do(t, "GET", "/openapi.json", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/openapi.json: %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	mustUnmarshal(t, b, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(documented)
	if registered := g.Routes(); !slices.Equal(registered, documented) {
		t.Fatalf("routes and OpenAPI document differ:\nregistered %v\ndocumented %v", registered, documented)
	}
	// Each operation names the scope its route needs (x-ossa-scope; "" for
	// any caller that authenticated), and the probes need none.
	var scoped struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	mustUnmarshal(t, b, &scoped)
	for route, want := range g.RouteScopes() {
		method, path, _ := strings.Cut(route, " ")
		var op struct {
			Scope    *string          `json:"x-ossa-scope"`
			Security *json.RawMessage `json:"security"`
		}
		if err := json.Unmarshal(scoped.Paths[path][strings.ToLower(method)], &op); err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		got := "public"
		if op.Scope != nil {
			got = *op.Scope
		} else if op.Security == nil || string(*op.Security) != "[]" {
			got = "(missing)"
		}
		if got != string(want) {
			t.Errorf("%s: the document says scope %q, the route needs %q", route, got, want)
		}
	}
	if !json.Valid(ohttp.OpenAPIDocument()) {
		t.Fatal("the embedded document is not JSON")
	}
}
