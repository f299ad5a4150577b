package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series, on Server.Metrics or, by
// default, a registry of its own, so that several servers can live in one
// test process.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// streamsOpen and streamDuration are for the long-lived requests
	// (Server.longLived), which the three above leave out.
	streamsOpen    *prometheus.GaugeVec
	streamDuration *prometheus.HistogramVec
	// wsConnections counts open WebSocket connections.
	wsConnections prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, agents platform.AgentStore, runs platform.RunStore, hub *events.Hub) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served now, but for live streams and long waits (ossa_http_streams_open).",
		}),
		streamsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ossa_http_streams_open",
			Help: "Long-lived HTTP requests open now (WebSocket, SSE, orchestrate with ?wait=), by route pattern.",
		}, []string{"route"}),
		streamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ossa_http_stream_duration_seconds",
			Help:    "How long long-lived HTTP requests (WebSocket, SSE, orchestrate with ?wait=) stayed open, by route pattern.",
			Buckets: []float64{.1, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600},
		}, []string{"route"}),
		wsConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ossa_websocket_connections",
			Help: "Open WebSocket connections on /ws.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.inFlight, m.streamsOpen, m.streamDuration, m.wsConnections,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if agents != nil {
		m.registry.MustRegister(&agentCollector{agents: agents})
	}
	if runs != nil {
		m.registry.MustRegister(&runCollector{runs: runs})
	}
	if hub != nil {
		hubMetric := func(name, help string, typ prometheus.ValueType, v func(events.Metrics) float64) prometheus.Collector {
			opts := prometheus.Opts{Name: name, Help: help}
			if typ == prometheus.CounterValue {
				return prometheus.NewCounterFunc(prometheus.CounterOpts(opts), func() float64 { return v(hub.Metrics()) })
			}
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts), func() float64 { return v(hub.Metrics()) })
		}
		m.registry.MustRegister(
			hubMetric("ossa_event_subscribers", "Live event subscribers (WebSocket and SSE clients) on this replica.",
				prometheus.GaugeValue, func(m events.Metrics) float64 { return float64(m.Subscribers) }),
			hubMetric("ossa_events_delivered_total", "Events handed to this replica's subscribers, one per subscriber and matching subscription.",
				prometheus.CounterValue, func(m events.Metrics) float64 { return float64(m.Delivered) }),
			hubMetric("ossa_event_subscribers_dropped_total", "Subscribers disconnected for falling too far behind.",
				prometheus.CounterValue, func(m events.Metrics) float64 { return float64(m.Dropped) }),
			hubMetric("ossa_event_last_id", "The newest event ID this replica delivered.",
				prometheus.GaugeValue, func(m events.Metrics) float64 { return float64(m.Last) }),
			hubMetric("ossa_event_bus_unconfirmed_total", "Events the Redis bus announced that the database did not have, ignored: something other than this deployment's replicas publishes on its channel.",
				prometheus.CounterValue, func(m events.Metrics) float64 { return float64(m.Unconfirmed) }),
		)
	}
	return m
}

// observe counts a request that ended; a long-lived one is only counted:
// the rest of its figures are its own (Server.longLived).
func (m *metrics) observe(method, route string, status int, elapsed time.Duration, longLived bool) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	if longLived {
		return
	}
	m.inFlight.Dec()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// methodLabel is a method as a label value: one of the methods HTTP
// defines, or "other", so that invented methods, any token a client
// likes, cannot make new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// agentCollector counts registered agents at scrape time, from the store,
// so every replica reports the same figures.
type agentCollector struct{ agents platform.AgentStore }

var agentsDesc = prometheus.NewDesc("ossa_agents", "Registered agents, by type and status.", []string{"type", "status"}, nil)

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- agentsDesc }

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.agents.CountAgents(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(agentsDesc, err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(n.Count), string(n.Type), string(n.Status))
	}
}

func (s *Server) registerMetricsRoutes() {
	h := promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	serve := func(w http.ResponseWriter, r *http.Request) error { h.ServeHTTP(w, r); return nil }
	// The guide's path, and Prometheus' conventional one.
	s.handle("GET /api/v1/metrics", platform.ScopeMetrics, serve)
	s.handle("GET /metrics", platform.ScopeMetrics, serve)
}

// InstrumentInvoker returns inv counting and timing every agent call on
// reg: ossa_agent_calls_total by agent and outcome (ok, retryable,
// permanent) and ossa_agent_call_duration_seconds by agent. Probes are not
// counted.
func InstrumentInvoker(reg prometheus.Registerer, inv platform.AgentInvoker) platform.AgentInvoker {
	m := &instrumentedInvoker{AgentInvoker: inv,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_agent_calls_total",
			Help: "Calls of agents by the gateway (workflow steps and direct executes), by agent and outcome.",
		}, []string{"agent", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ossa_agent_call_duration_seconds",
			Help:    "Time agents took to answer the gateway's calls, by agent.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"agent"}),
	}
	reg.MustRegister(m.calls, m.duration)
	return m
}

type instrumentedInvoker struct {
	platform.AgentInvoker
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func (m *instrumentedInvoker) Invoke(ctx context.Context, a *platform.Agent, inv *platform.Invocation) (json.RawMessage, error) {
	start := time.Now()
	out, err := m.AgentInvoker.Invoke(ctx, a, inv)
	outcome := "ok"
	switch {
	case platform.IsRetryable(err):
		outcome = "retryable"
	case err != nil:
		outcome = "permanent"
	}
	m.calls.WithLabelValues(a.Name, outcome).Inc()
	m.duration.WithLabelValues(a.Name).Observe(time.Since(start).Seconds())
	return out, err
}
