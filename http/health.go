package http

import (
	"context"
	"net/http"
	"time"

	"github.com/ossa-platform/platform"
)

// Health is the body of GET /health.
type Health struct {
	// Status is "healthy", "degraded" (an optional dependency is down) or
	// "unhealthy" (the database is down).
	Status        string         `json:"status"`
	Version       string         `json:"version"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Services      HealthServices `json:"services"`
}

// HealthServices reports each dependency.
type HealthServices struct {
	Database DependencyHealth `json:"database"`
	Redis    DependencyHealth `json:"redis"`
	Vector   DependencyHealth `json:"vector"`
}

// DependencyHealth is one dependency's state: "connected", "down", or
// "disabled" when it is not configured.
type DependencyHealth struct {
	Status    string   `json:"status"`
	Backend   string   `json:"backend,omitempty"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// healthTimeout bounds each dependency check.
const healthTimeout = 2 * time.Second

func (s *Server) registerHealthRoutes() {
	s.handle("GET /health", s.handleHealth)
	s.handle("GET /healthz", s.handleLiveness)
	s.handle("GET /readyz", s.handleReadiness)
}

// handleHealth handles "GET /health": 200 while healthy or degraded, 503
// when the database is unreachable.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	h := Health{
		Version:       platform.Version,
		UptimeSeconds: time.Since(s.started).Truncate(time.Millisecond).Seconds(),
		Services: HealthServices{
			Database: check(r.Context(), s.Database),
			Redis:    check(r.Context(), s.Redis),
			Vector:   check(r.Context(), s.Vector),
		},
	}
	if s.Database != nil {
		h.Services.Database.Backend = s.Database.Backend()
	}
	if v, ok := s.Vector.(interface{ Backend() string }); ok {
		h.Services.Vector.Backend = v.Backend()
	}
	status := http.StatusOK
	switch {
	case h.Services.Database.Status != "connected":
		h.Status, status = "unhealthy", http.StatusServiceUnavailable
	case h.Services.Redis.Status == "down" || h.Services.Vector.Status == "down":
		h.Status = "degraded"
	default:
		h.Status = "healthy"
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, status, h)
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

// check pings one dependency.
func check(ctx context.Context, p interface{ Ping(context.Context) error }) DependencyHealth {
	if p == nil {
		return DependencyHealth{Status: "disabled"}
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	start := time.Now()
	err := p.Ping(ctx)
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return DependencyHealth{Status: "down", LatencyMS: &ms, Error: err.Error()}
	}
	return DependencyHealth{Status: "connected", LatencyMS: &ms}
}
