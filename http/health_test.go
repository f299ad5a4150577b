package http_test

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	ohttp "github.com/ossa-platform/platform/http"
)

// stuckPinger never answers and ignores its context, as a driver waiting
// on its own read timeout does; it returns when the test ends.
type stuckPinger struct{ release <-chan struct{} }

func (p stuckPinger) Ping(context.Context) error { <-p.release; return nil }

// TestHealthDoesNotWaitForStuckDependencies checks that /health gives up on
// optional dependencies that never answer, both together, within a bound.
func TestHealthDoesNotWaitForStuckDependencies(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	g := newGateway(t, func(s *ohttp.Server) {
		s.Redis = stuckPinger{release}
		s.Vector = stuckPinger{release}
		s.Embeddings = nil
	})
	t.Cleanup(func() { close(release) })
	start := time.Now()
	resp, b := g.do(t, "GET", "/health", "", nil)
	elapsed := time.Since(start)
	var h ohttp.Health
	mustUnmarshal(t, b, &h)
	if want := map[string]string{"sqlite": "connected", "redis": "down", "qdrant": "down", "embeddings": "disabled"}; resp.StatusCode != http.StatusOK ||
		h.Status != "degraded" || !maps.Equal(h.Services, want) || h.Dependencies.Redis.Error == "" {
		t.Fatalf("health: %d %s", resp.StatusCode, b)
	}
	if elapsed > time.Second {
		t.Fatalf("/health took %s with two stuck dependencies", elapsed)
	}
}
