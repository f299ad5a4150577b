package http

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// Health is the body of GET /health.
type Health struct {
	// Status is "healthy", "degraded" (an optional dependency is down) or
	// "unhealthy" (the database is down).
	Status        string  `json:"status"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Services is the developer guide's summary: each dependency's status
	// ("connected", "down" or "disabled") under the name of its technology:
	// the database's backend ("sqlite" or "postgres"), "redis" and "qdrant".
	Services map[string]string `json:"services"`
	// Dependencies has the details of each dependency.
	Dependencies HealthDependencies `json:"dependencies"`
}

// HealthDependencies reports each dependency.
type HealthDependencies struct {
	Database DependencyHealth `json:"database"`
	Redis    DependencyHealth `json:"redis"`
	Vector   DependencyHealth `json:"vector"`
	// Embeddings is discovery's embedder: "down" while it fails (agents
	// are then indexed later, and words alone rank), its model as backend.
	Embeddings DependencyHealth `json:"embeddings"`
	// RateLimit is the rate limiter: "connected" with its backend
	// ("redis": shared by the replicas; "memory": this replica's own),
	// "down" while the Redis one counts in process because Redis fails,
	// "disabled" when requests are not limited (API_RATE_LIMIT=0).
	RateLimit DependencyHealth `json:"rate_limit"`
}

// DependencyHealth is one dependency's state: "connected", "down", or
// "disabled" when it is not configured.
type DependencyHealth struct {
	Status    string   `json:"status"`
	Backend   string   `json:"backend,omitempty"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// healthTimeout bounds the database's check. The optional dependencies get
// optionalHealthTimeout: one that does not answer must not hold up /health,
// which answers within about that long even then.
const (
	healthTimeout         = 2 * time.Second
	optionalHealthTimeout = 150 * time.Millisecond
)

func (s *Server) registerHealthRoutes() {
	s.handle("GET /health", anyScope, s.handleHealth)
	s.handle("GET /healthz", public, s.handleLiveness)
	s.handle("GET /readyz", public, s.handleReadiness)
}

// handleHealth handles "GET /health": 200 while healthy or degraded, 503
// when the database is unreachable. The dependencies are checked at once.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	var deps HealthDependencies
	var wg sync.WaitGroup
	wg.Go(func() { deps.Database = check(r.Context(), s.Database, healthTimeout) })
	wg.Go(func() { deps.Redis = check(r.Context(), s.Redis, optionalHealthTimeout) })
	wg.Go(func() { deps.Vector = check(r.Context(), s.Vector, optionalHealthTimeout) })
	wg.Go(func() { deps.Embeddings = check(r.Context(), s.Embeddings, optionalHealthTimeout) })
	wg.Go(func() { deps.RateLimit = s.limiterHealth(r.Context()) })
	wg.Wait()
	database, vector := "database", "qdrant"
	if s.Database != nil {
		database = s.Database.Backend()
		deps.Database.Backend = database
	}
	if v, ok := s.Vector.(interface{ Backend() string }); ok {
		vector = v.Backend()
		deps.Vector.Backend = vector
	}
	if e, ok := s.Embeddings.(interface{ Backend() string }); ok {
		deps.Embeddings.Backend = e.Backend()
	}
	h := Health{
		Version:       platform.Version,
		UptimeSeconds: float64(time.Since(s.started).Milliseconds()) / 1000,
		Services: map[string]string{
			database:     deps.Database.Status,
			"redis":      deps.Redis.Status,
			vector:       deps.Vector.Status,
			"embeddings": deps.Embeddings.Status,
		},
		Dependencies: deps,
	}
	status := http.StatusOK
	switch {
	case deps.Database.Status != "connected":
		h.Status, status = "unhealthy", http.StatusServiceUnavailable
	case deps.Redis.Status == "down" || deps.Vector.Status == "down" || deps.Embeddings.Status == "down" ||
		deps.RateLimit.Status == "down":
		h.Status = "degraded"
	default:
		h.Status = "healthy"
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, status, h)
}

// limiterHealth reports the rate limiter: a Pinger is asked (the Redis
// one says whether it is on its fallback); any other works.
func (s *Server) limiterHealth(ctx context.Context) DependencyHealth {
	if s.Limiter == nil {
		return DependencyHealth{Status: "disabled"}
	}
	d := DependencyHealth{Status: "connected"}
	if p, ok := s.Limiter.(Pinger); ok {
		d = check(ctx, p, optionalHealthTimeout)
	}
	if b, ok := s.Limiter.(interface{ Backend() string }); ok {
		d.Backend = b.Backend()
	}
	return d
}

// handleLiveness handles "GET /healthz": the process serves requests.
func (s *Server) handleLiveness(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadiness handles "GET /readyz": the database answers and every
// migration is applied, so this replica may take traffic.
func (s *Server) handleReadiness(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if s.Database == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "no database configured")
	}
	if err := s.Database.Ready(ctx); err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "not ready: %v", err)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// check pings one dependency, giving up after timeout even when its Ping
// does not heed its context (a driver's own read timeout may be longer):
// the ping then finishes in the background, bounded by the driver.
func check(ctx context.Context, p interface{ Ping(context.Context) error }, timeout time.Duration) DependencyHealth {
	if p == nil {
		return DependencyHealth{Status: "disabled"}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Ping(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer within %s", timeout)
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return DependencyHealth{Status: "down", LatencyMS: &ms, Error: err.Error()}
	}
	return DependencyHealth{Status: "connected", LatencyMS: &ms}
}
