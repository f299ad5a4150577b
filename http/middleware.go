package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// requestInfo is what the outer middleware learns from the inner layers.
type requestInfo struct {
	id     string
	route  string // the matched pattern without its method; "" when none
	logger *slog.Logger
	start  time.Time
	// longLived is set by Server.longLived.
	longLived bool
	// principal is who the authenticate layer found is calling; nil until
	// then, and on the routes that ask nobody (the public ones). A request
	// refused for the namespace it names has its caller's principal here.
	principal *platform.Principal
	// source is the client's address (clientKey).
	source string
}

// routeLabel is the request's route for logs and metrics: its pattern, or
// "unmatched".
func (info *requestInfo) routeLabel() string {
	if info.route == "" {
		return "unmatched"
	}
	return info.route
}

// longLived marks r as long-lived, a live stream or a long wait, before its
// handler blocks: from then on it is not one of http_requests_in_flight,
// nor will its time be in http_request_duration_seconds, which are for the
// requests that are answered at once, but it is one of
// ossa_http_streams_open until end is called, which observes its time in
// ossa_http_stream_duration_seconds. The handler calls end once the stream
// is over: as it returns, or, for a WebSocket served by goroutines of its
// own after the handler returned, when the connection closes. It still
// counts in http_requests_total as it returns.
func (s *Server) longLived(r *http.Request) (end func()) {
	info := infoFrom(r.Context())
	if info == nil || info.longLived {
		return func() {}
	}
	info.longLived = true
	s.metrics.inFlight.Dec()
	route := info.routeLabel()
	open := s.metrics.streamsOpen.WithLabelValues(route)
	open.Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			open.Dec()
			s.metrics.streamDuration.WithLabelValues(route).Observe(time.Since(info.start).Seconds())
		})
	}
}

// maxLoggedMethod is how much of a request's method the access log keeps:
// a method is any token, as long as the request line allows.
const maxLoggedMethod = 32

// logMethod is the method as the access log has it, cut to maxLoggedMethod
// bytes.
func logMethod(m string) string {
	if len(m) > maxLoggedMethod {
		return m[:maxLoggedMethod] + "..."
	}
	return m
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// logger returns the request's logger, which carries its request ID.
func logger(r *http.Request) *slog.Logger {
	if info := infoFrom(r.Context()); info != nil && info.logger != nil {
		return info.logger
	}
	return slog.Default()
}

// middleware wraps the router in the layers every request passes, outermost
// first: request ID, access log and metrics, panic recovery, security
// headers, CORS, authentication, rate limiting. Preflights are answered
// before authentication (browsers send them without credentials). Requests
// are limited once their principal is known, each against its principal
// (or its address when anonymous); those that fail authentication count
// against their address, so that guessing credentials is limited too (see
// authenticate).
func (s *Server) middleware(next http.Handler) http.Handler {
	h := s.rateLimit(next)
	h = s.authenticate(h)
	h = s.cors(h)
	h = securityHeaders(h, s.HSTS)
	h = recoverPanics(h)
	return s.observe(h)
}

// observe assigns the request ID, then logs and measures the request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		info := &requestInfo{id: id, logger: s.logger().With(slog.String("request_id", id)), start: start,
			source: s.clientKey(r)}
		ctx := context.WithValue(r.Context(), infoKey{}, info)
		// What the request changes is audited with its ID and source.
		r = r.WithContext(platform.WithRequestInfo(ctx, platform.RequestInfo{ID: id, Source: info.source}))

		s.metrics.inFlight.Inc()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			elapsed := time.Since(start)
			route := info.routeLabel()
			s.metrics.observe(r.Method, route, rec.status, elapsed, info.longLived)
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			// Only the path: query strings and headers may carry secrets.
			attrs := []slog.Attr{
				slog.String("method", logMethod(r.Method)),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes),
				slog.String("remote", r.RemoteAddr),
			}
			if p := info.principal; p != nil {
				attrs = append(attrs, slog.String("principal", string(p.Kind)+":"+p.Subject), slog.String("namespace", p.Namespace))
			}
			info.logger.LogAttrs(r.Context(), level, "request", attrs...)
			if rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden {
				s.noteDenied(r, info, rec.status)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush, hijack).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// validRequestID accepts a caller's ID of up to 128 visible ASCII characters
// other than quotes and backslashes, so it is safe to log and echo.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverPanics turns a panic into a 500 problem; the server keeps serving.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			logger(r).ErrorContext(r.Context(), "panic", slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			if rec, ok := w.(*statusRecorder); ok && rec.wroteHeader {
				return // too late for a problem body; the client sees a cut response
			}
			writeError(w, r, &platform.Error{Code: platform.EINTERNAL, Message: "internal error"})
		}()
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy is helmet's default policy with the guide's
// directives for scripts, styles and images.
const contentSecurityPolicy = "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; " +
	"form-action 'self'; frame-ancestors 'none'; img-src 'self' data: https:; object-src 'none'; " +
	"script-src 'self' 'unsafe-inline'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'; " +
	"upgrade-insecure-requests"

// hstsPolicy is helmet's Strict-Transport-Security, with the guide's
// preload.
const hstsPolicy = "max-age=31536000; includeSubDomains; preload"

// securityHeaders sets the headers helmet sets, configured as the guide
// does; Strict-Transport-Security only with hsts (Server.HSTS): browsers
// ignore it over plain HTTP (RFC 6797), and a gateway that clients reach
// over plain HTTP must not tell them it is HTTPS-only.
func securityHeaders(next http.Handler, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		if hsts {
			h.Set("Strict-Transport-Security", hstsPolicy)
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Origin-Agent-Cluster", "?1")
		h.Set("X-DNS-Prefetch-Control", "off")
		h.Set("X-Download-Options", "noopen")
		h.Set("X-Permitted-Cross-Domain-Policies", "none")
		h.Set("X-XSS-Protection", "0")
		next.ServeHTTP(w, r)
	})
}

// CORS lists.
var (
	corsMethods        = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders   = "Accept, Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID, X-OSSA-Namespace, X-Request-ID"
	corsExposedHeaders = "ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-ID"
)

// cors answers browsers from the configured origins: preflights get 204
// with the allowed methods and headers; other origins get no CORS headers
// (and a 403 problem for a preflight), so the browser blocks them. A
// listed origin is named back, with credentials allowed; "*" answers any
// origin with "*" and never with credentials, so that a page on any site
// cannot make requests that carry the user's cookies or HTTP auth.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		listed := slices.Contains(s.CORSOrigins, origin)
		allowed := listed || slices.Contains(s.CORSOrigins, "*")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !allowed {
			if preflight {
				writeError(w, r, platform.Errorf(platform.EFORBIDDEN, "origin %q may not call this API (CORS_ORIGIN)", origin))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if listed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		} else {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		if preflight {
			w.Header().Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			w.Header().Set("Access-Control-Allow-Methods", corsMethods)
			w.Header().Set("Access-Control-Allow-Headers", corsAllowHeaders)
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Access-Control-Expose-Headers", corsExposedHeaders)
		next.ServeHTTP(w, r)
	})
}

// NamespaceHeader names the namespace a request acts in, when it is not
// the caller's own: one of the namespaces its principal sees.
const NamespaceHeader = "X-OSSA-Namespace"

// authenticate establishes the request's principal and puts it in the
// request's context, where every handler takes its namespace from (see
// principal): the Authenticator's, or platform.AllowAll without one,
// narrowed to the namespace X-OSSA-Namespace names. A request the
// Authenticator refuses, or that names a namespace its principal does not
// see, goes no further. Such a request counts against its address's rate
// limit, and once that is spent the address's requests are refused (429)
// before their credentials are checked, until its Retry-After.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The probes act as no principal, so that nothing of a request
		// fails them: a kubelet or a load balancer calls them without
		// credentials.
		if s.public[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if s.refusedFirst(w, r) {
			return
		}
		p, err := s.principalOf(r)
		if err != nil {
			if !s.limitFailed(w, r) {
				writeError(w, r, err)
			}
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.principal = p
		}
		next.ServeHTTP(w, r.WithContext(platform.WithPrincipal(r.Context(), p)))
	})
}

// principalOf is the principal r acts as.
func (s *Server) principalOf(r *http.Request) (*platform.Principal, error) {
	p := platform.AllowAll()
	if secret, ok := s.ticketOf(r); ok {
		var err error
		if p, err = s.redeem(r, secret); err != nil {
			return nil, err
		}
	} else if s.Authenticator != nil {
		var err error
		if p, err = s.Authenticator.Authenticate(r); err != nil {
			return nil, err
		}
		if p == nil {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "the request's credentials name no caller")
		}
		if err := p.Validate(); err != nil {
			// %v, not %w: the caller did nothing wrong, so this is a 500.
			return nil, fmt.Errorf("the authenticator returned a principal that cannot be used: %v", err) //nolint:errorlint // see above
		}
	}
	values := r.Header.Values(NamespaceHeader)
	if len(values) == 0 {
		return p, nil
	}
	if info := infoFrom(r.Context()); info != nil {
		info.principal = p // who is refused, should the namespace be
	}
	ns := strings.TrimSpace(values[0])
	if len(values) > 1 || !platform.ValidNamespace(ns) {
		return nil, &platform.Error{Code: platform.EBADREQUEST, Message: "the " + NamespaceHeader + " header is not valid",
			Fields: []platform.FieldError{{Field: NamespaceHeader,
				Message: "must be one namespace: a DNS-1123 label of at most 63 lower-case letters, digits and '-'"}}}
	}
	return p.In(ns)
}

// principal is the request's principal, which authenticate put in its
// context. Every route but the probes runs behind authenticate, so a
// request without one is a bug in the gateway: it fails (a 500), rather
// than act in a namespace nobody chose.
func principal(r *http.Request) *platform.Principal {
	p := platform.PrincipalFrom(r.Context())
	if p == nil {
		panic("http: " + r.URL.Path + " reached a handler without a principal")
	}
	return p
}

// namespace is the namespace the request acts in: its principal's.
func namespace(r *http.Request) string { return principal(r).Namespace }

// clientKey identifies the client for rate limiting. A peer that is not a
// trusted proxy is the client, whatever headers it sends. From a trusted
// proxy, X-Real-IP names the client, unless it is itself a trusted address
// (another proxy in front); then, and without X-Real-IP, X-Forwarded-For is
// walked from its right, the hop the nearest proxy added: the first hop
// that is not trusted is the client, and what lies left of it, which the
// client may have written itself, is never believed. A hop that is not an
// address stops the walk at the last trusted one.
func (s *Server) clientKey(r *http.Request) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
	if !s.trusted(peer) {
		return peer.String()
	}
	if real := r.Header.Values("X-Real-IP"); len(real) > 0 && strings.TrimSpace(real[len(real)-1]) != "" {
		addr, ok := parseHop(real[len(real)-1])
		if !ok {
			return peer.String()
		}
		if !s.trusted(addr) {
			return addr.String()
		}
		peer = addr
	}
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, hop = rest[:j], rest[j+1:]
			} else {
				rest, hop = "", rest
			}
			if strings.TrimSpace(hop) == "" {
				continue
			}
			addr, ok := parseHop(hop)
			if !ok {
				return peer.String()
			}
			if !s.trusted(addr) {
				return addr.String()
			}
			peer = addr
		}
	}
	return peer.String()
}

// parseHop reads an address of RemoteAddr, X-Real-IP or X-Forwarded-For:
// an IP address, with or without a port ("192.0.2.1", "192.0.2.1:4711",
// "[2001:db8::1]:4711"). An IPv4-mapped IPv6 address is its IPv4 address.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func (s *Server) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }
