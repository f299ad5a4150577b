// Package http is the gateway's HTTP side: the routes (one file per
// resource), the middleware every request passes, the OpenAPI document,
// and the Go client that speaks to it all.
package http

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is the gateway. Set its fields, call Open, and Close at the end.
type Server struct {
	// Addr is the listen address, "localhost:3100" by default; port 0
	// picks a free one. Host "localhost" listens on the loopback addresses
	// 127.0.0.1 and ::1 (when the machine has IPv6); ":3100" or
	// "0.0.0.0:3100" on every interface.
	Addr string
	// Agents keeps the registry.
	Agents platform.AgentStore
	// Workflows keeps workflow definitions.
	Workflows platform.WorkflowStore
	// Runs keeps workflow runs. With Orchestrator, it serves the run and
	// execute routes; while either is nil they answer 503.
	Runs platform.RunStore
	// Orchestrator checks new runs and calls agents directly: the engine.
	Orchestrator platform.Orchestrator
	// Events streams live events over /ws and SSE; while nil those routes
	// answer 503.
	Events *events.Hub
	// Database reports the store's health.
	Database platform.Database
	// Redis and Vector report the health of optional dependencies; nil
	// means the dependency is not configured ("disabled").
	Redis, Vector Pinger
	// Secrets keeps the secrets agents authenticate with; while nil the
	// secret routes answer 503, and an agent that names a secret cannot be
	// registered.
	Secrets platform.Secrets
	// Endpoints judges the endpoint of every agent registered or changed:
	// one it refuses is a 422 naming the endpoint. Nil accepts any.
	Endpoints EndpointPolicy
	// Limiter rate-limits requests, per principal, or per client address
	// for anonymous requests and failed authentications (see rateLimit);
	// nil disables limiting. One that is also a Pinger has its health in
	// /health (rate_limit), and /health is degraded while it fails.
	Limiter platform.RateLimiter
	// Authenticator tells who calls each request; nil means authentication
	// is off, and every request is platform.AllowAll's.
	Authenticator Authenticator
	// Keys keeps the API keys that /api/v1/keys makes, lists and revokes;
	// while nil those routes answer 503.
	Keys platform.KeyStore
	// Discovery finds agents from a sentence (GET /api/v1/agents/search,
	// POST /api/v1/discover); while nil, those answer 503.
	Discovery platform.Discoverer
	// Embeddings is discovery's embedder, for /health: down while it
	// fails; nil is "disabled".
	Embeddings Pinger
	// Reindexer re-indexes agents for discovery (POST
	// /api/v1/discover/reindex); while nil, that answers 503.
	Reindexer Reindexer
	// Tickets keeps the event tickets that POST /api/v1/events/tickets
	// makes and the stream routes take; while nil, those answer 503.
	Tickets platform.TicketStore
	// TLS, when set, makes the gateway serve HTTPS on every address,
	// with this configuration (CertFiles.TLSConfig for certificate
	// files): never below TLS 1.2, whatever it says. Nil: plain HTTP.
	TLS *tls.Config
	// HSTS sends Strict-Transport-Security (a year, subdomains, preload)
	// on every answer, telling browsers to use HTTPS alone for this host:
	// for a gateway reached over HTTPS only, served with TLS or behind a
	// proxy that terminates it. serve sets it when TLS is set
	// (OSSA_HSTS).
	HSTS bool
	// Audit keeps the audit log: GET /api/v1/audit reads it, and the
	// gateway records there every request it refuses (401, 403; see
	// denials.go). Nil: the route answers 503 and denials go unrecorded.
	// The changes themselves are recorded by the stores.
	Audit platform.AuditStore
	// CORSOrigins may call from a browser; "*" allows any. Empty: none.
	CORSOrigins []string
	// TrustedProxies are the networks whose X-Real-IP and X-Forwarded-For
	// are believed when telling clients apart (see clientKey). Empty: the
	// peer address is the client.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes caps request bodies; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// WSPingInterval is how often the gateway pings an open WebSocket,
	// and WSPongTimeout how long it waits for the pong before it closes
	// the connection (1008 "no pong"); 25 s and 10 s when 0.
	WSPingInterval, WSPongTimeout time.Duration
	// Logger receives one line per request; slog.Default() when nil.
	Logger *slog.Logger
	// Metrics is the Prometheus registry the gateway's series go on and
	// /metrics serves; one of its own when nil. The platform gives every
	// service it hosts one registry, so that one /metrics shows them all.
	Metrics *prometheus.Registry

	mux    *http.ServeMux
	routes []route
	// public are the paths of the routes that ask nobody.
	public map[string]bool
	// streams are the patterns of the routes that take event tickets.
	streams  map[string]bool
	server   *http.Server
	bindings []net.Listener
	started  time.Time
	metrics  *metrics
	handler  http.Handler
	// refused are the addresses the limiter refused lately.
	refused refusedAddrs
	denials *denials
}

// Pinger is an optional dependency whose reachability /health reports.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Authenticator establishes the principal of a request from its
// credentials: the seam API keys and OpenID Connect plug into. It is asked
// once per request, on every route but the probes (/healthz, /readyz),
// before the route's handler runs.
type Authenticator interface {
	// Authenticate returns the principal r's credentials prove, acting in
	// its own namespace (a request names another in X-OSSA-Namespace), or
	// the error to answer with: EUNAUTHORIZED (401) for missing or bad
	// credentials, EUNAVAILABLE when what checks them is down.
	Authenticate(r *http.Request) (*platform.Principal, error)
}

// AuthenticatorFunc is a function that serves as an Authenticator.
type AuthenticatorFunc func(r *http.Request) (*platform.Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*platform.Principal, error) { return f(r) }

// Open builds the handler, binds Addr and starts serving in the background.
func (s *Server) Open() error {
	if s.Addr == "" {
		s.Addr = "localhost:3100"
	}
	lns, err := s.listen()
	if err != nil {
		return err
	}
	s.bindings = lns
	s.server = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // a whole request body, at most 1 MiB
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}
	if s.TLS != nil {
		cfg := s.TLS.Clone()
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		s.server.TLSConfig = cfg
	}
	for _, ln := range lns {
		go func() {
			serve := s.server.Serve
			if s.TLS != nil {
				// The certificate is the configuration's: no files here.
				serve = func(ln net.Listener) error { return s.server.ServeTLS(ln, "", "") }
			}
			if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger().Error("serve", slog.String("error", err.Error()))
			}
		}()
	}
	return nil
}

// listen binds Addr. Host "localhost" is both loopback addresses on one
// port, since clients (and nginx) resolving localhost may try either: ::1
// is left out, with a warning, when it cannot be bound, and quietly when
// the machine has no IPv6.
func (s *Server) listen() ([]net.Listener, error) {
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return nil, err
	}
	if host != "localhost" {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return nil, err
		}
		return []net.Listener{ln}, nil
	}
	ln4, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, err
	}
	port = itoa(ln4.Addr().(*net.TCPAddr).Port)
	ln6, err := net.Listen("tcp", net.JoinHostPort("::1", port))
	switch {
	case err == nil:
		return []net.Listener{ln4, ln6}, nil
	case errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT):
		s.logger().Debug("no IPv6 loopback; listening on 127.0.0.1 only", slog.String("error", err.Error()))
	default:
		s.logger().Warn("listening on 127.0.0.1 only: clients that resolve localhost to ::1 will not reach the gateway",
			slog.String("error", err.Error()))
	}
	return []net.Listener{ln4}, nil
}

// Addrs are the addresses the server listens on, once open.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.bindings))
	for i, ln := range s.bindings {
		out[i] = ln.Addr()
	}
	return out
}

// URL is the base URL the server answers on, once open: on this machine
// when it listens on every interface; https:// when it serves TLS.
func (s *Server) URL() string {
	addr := s.bindings[0].Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http://"
	if s.TLS != nil {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, itoa(addr.Port))
}

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in flight to finish; then it writes the audit records of the
// denials it has counted.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.server == nil {
		return nil
	}
	err := s.server.Shutdown(ctx)
	if s.denials != nil {
		s.denials.close()
	}
	return err
}

// Handler returns the gateway's handler: every route behind the middleware.
// It is built once.
func (s *Server) Handler() http.Handler {
	if s.handler != nil {
		return s.handler
	}
	s.started = time.Now()
	s.mux, s.public = http.NewServeMux(), map[string]bool{}
	s.metrics = newMetrics(s.Metrics, s.Agents, s.Runs, s.Events)
	if s.Audit != nil {
		s.denials = newDenials(s.Audit, s.logger())
	}
	s.registerHealthRoutes()
	s.registerMetricsRoutes()
	s.registerOpenAPIRoutes()
	s.registerAgentRoutes()
	s.registerManifestRoutes()
	s.registerWorkflowRoutes()
	s.registerRunRoutes()
	s.registerExecuteRoutes()
	s.registerEventRoutes()
	s.registerKeyRoutes()
	s.registerSecretRoutes()
	s.registerAuditRoutes()
	s.registerTicketRoutes()
	s.registerDiscoveryRoutes()
	s.handler = s.middleware(http.HandlerFunc(s.route))
	return s.handler
}

// Routes lists the registered route patterns ("GET /health"), sorted.
func (s *Server) Routes() []string {
	s.Handler()
	out := make([]string, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r.pattern)
	}
	sort.Strings(out)
	return out
}

// RouteScopes returns the scope each route pattern needs: a
// platform.Scope, "" for any caller that authenticated, "public" for
// none.
func (s *Server) RouteScopes() map[string]platform.Scope {
	s.Handler()
	out := make(map[string]platform.Scope, len(s.routes))
	for _, r := range s.routes {
		out[r.pattern] = r.scope
	}
	return out
}

// allowed refuses a request whose principal lacks scope (EFORBIDDEN).
func (s *Server) allowed(r *http.Request, scope platform.Scope) error {
	if scope == public || scope == anyScope {
		return nil
	}
	if p := principal(r); !p.Can(scope) {
		return platform.Errorf(platform.EFORBIDDEN, "this caller lacks the scope %q, which %s %s needs", scope, r.Method, r.URL.Path)
	}
	return nil
}

// Registry is the Prometheus registry behind /metrics.
func (s *Server) Registry() *prometheus.Registry {
	s.Handler()
	return s.metrics.registry
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// What a route needs of its caller, beside the scopes of platform.Scope:
// anyScope, a principal (any caller that authenticated); public, nothing
// (the probes, which a load balancer calls without credentials).
const (
	anyScope platform.Scope = ""
	public   platform.Scope = "public"
)

// route is one registered route and the scope its caller needs.
type route struct {
	pattern string
	scope   platform.Scope
}

// handle registers fn for pattern, for callers that hold scope; one place
// refuses the others (403), turns fn's errors into problems, and refuses a
// POST that is not JSON or YAML (postType).
func (s *Server) handle(pattern string, scope platform.Scope, fn handlerFunc) {
	s.routes = append(s.routes, route{pattern, scope})
	if scope == public {
		s.public[pattern[strings.IndexByte(pattern, ' ')+1:]] = true
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		err := s.allowed(r, scope)
		if err == nil {
			err = postType(r)
		}
		if err == nil {
			err = fn(w, r)
		}
		if err != nil {
			writeError(w, r, err)
		}
	})
}

// route dispatches to the mux, recording the matched pattern for logs and
// metrics, and answers unmatched requests with a problem: 405 with Allow
// when the path exists under other methods, 404 otherwise. A 405 is
// recorded under the pattern the path matches with an allowed method.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	info := infoFrom(r.Context())
	if pattern == "" {
		capture := &headerCapture{header: http.Header{}}
		h.ServeHTTP(capture, r)
		if capture.status == http.StatusMethodNotAllowed {
			if info != nil {
				info.route = s.allowedRoute(r, capture.header.Get("Allow"))
			}
			w.Header().Set("Allow", capture.header.Get("Allow"))
			writeError(w, r, &platform.Error{Code: codeMethodNotAllowed,
				Message: r.Method + " is not allowed here; allowed: " + capture.header.Get("Allow")})
			return
		}
		writeError(w, r, platform.Errorf(platform.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
		return
	}
	if info != nil {
		info.route = routeLabel(pattern)
	}
	s.mux.ServeHTTP(w, r)
}

// allowedRoute is the route of r's path under the first method allow
// lists, "" when there is none.
func (s *Server) allowedRoute(r *http.Request, allow string) string {
	method, _, _ := strings.Cut(allow, ",")
	if method = strings.TrimSpace(method); method == "" {
		return ""
	}
	known := r.WithContext(r.Context()) // a shallow copy
	known.Method = method
	_, pattern := s.mux.Handler(known)
	return routeLabel(pattern)
}

// headerCapture records what the mux's own 404/405 handler would write.
type headerCapture struct {
	header http.Header
	status int
}

func (c *headerCapture) Header() http.Header         { return c.header }
func (c *headerCapture) Write(b []byte) (int, error) { return len(b), nil }
func (c *headerCapture) WriteHeader(status int)      { c.status = status }

// routeLabel strips the method from a pattern: "GET /a/{id}" → "/a/{id}".
func routeLabel(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[i+1:]
		}
	}
	return pattern
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) maxBodyBytes() int64 {
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}
