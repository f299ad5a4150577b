package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/events"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/qdrant"
	"github.com/ossa-platform/platform/redis"
)

// Service is an HTTP service the platform hosts: routes of its own on a
// listener of its own, over what every service of the platform shares.
// The gateway is the first, on SERVICE_PORT; another (the Agent BuildKit
// of the guide, on its port 3000) has settings of its own in Config, under
// a prefix of its own (BUILDKIT_PORT...), which say whether and where it
// listens, and is one of Main.Services when they enable it.
type Service interface {
	// Name names the service in errors: "gateway".
	Name() string
	// Open builds the service's routes over sh, binds its address (taken
	// from its settings in sh.Config; port 0 picks a free one), starts
	// serving in the background and logs where it listens on sh.Logger.
	Open(ctx context.Context, sh *Shared) error
	// URL is the base URL the service answers on, once open.
	URL() string
	// Shutdown stops accepting connections and waits, until ctx ends, for
	// the requests in flight to finish.
	Shutdown(ctx context.Context) error
}

// Shared is what the services of one platform share: one store, one
// logger, one registry, one event hub, one engine.
type Shared struct {
	// Config is the platform's configuration, every service's settings
	// included.
	Config Config
	// Store is the database: one handle (and pool) for every service.
	Store Store
	// Logger is the platform's logger.
	Logger *slog.Logger
	// Registry holds the Prometheus series of the whole platform; the
	// gateway's /metrics serves it. A name can be registered once: a
	// service's series have a prefix of their own (ossa_buildkit_...), as
	// http_requests_total and its kin are the gateway's.
	Registry *prometheus.Registry
	// Events is the event hub. A service's changes reach it through the
	// store's outbox; a service that streams events subscribes to it.
	Events *events.Hub
	// Engine runs workflows and calls agents.
	Engine *engine.Engine
	// Redis is the Redis client; nil without REDIS_URL.
	Redis *redis.Client
}

// shutdown drains every service at once, so that all stop taking requests
// together and share ctx's time.
func (m *Main) shutdown(ctx context.Context) error {
	errs := make([]error, len(m.serving))
	var wg sync.WaitGroup
	for i, svc := range m.serving {
		wg.Go(func() {
			if err := svc.Shutdown(ctx); err != nil {
				errs[i] = fmt.Errorf("shut down the %s: %w", svc.Name(), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// gateway is the first service: the gateway's API on SERVICE_PORT.
type gateway struct {
	configure func(*ohttp.Server)
	srv       *ohttp.Server
}

func (g *gateway) Name() string { return "gateway" }

func (g *gateway) Open(ctx context.Context, sh *Shared) error {
	cfg := sh.Config
	srv := &ohttp.Server{
		Addr:           net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		Agents:         sh.Store,
		Workflows:      sh.Store,
		Runs:           sh.Store,
		Database:       sh.Store,
		Audit:          sh.Store,
		Orchestrator:   sh.Engine,
		Events:         sh.Events,
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Logger:         sh.Logger,
		Metrics:        sh.Registry,
	}
	if cfg.RateLimit > 0 {
		srv.Limiter = inmem.NewRateLimiter(cfg.RateLimit)
	}
	if sh.Redis != nil {
		srv.Redis = sh.Redis
	}
	if cfg.QdrantURL != "" {
		srv.Vector = qdrant.New(cfg.QdrantURL)
	}
	if g.configure != nil {
		g.configure(srv)
	}
	if err := srv.Open(); err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	g.srv = srv
	var addrs []string
	exposed := false
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
		exposed = exposed || !a.(*net.TCPAddr).IP.IsLoopback()
	}
	sh.Logger.Info("gateway listening", "url", srv.URL(), "addresses", addrs, "database", sh.Store.Backend(), "version", platform.Version)
	if exposed {
		sh.Logger.Warn("the gateway listens beyond this machine and its API has no authentication: "+
			"anyone who can reach it can register agents and start runs; "+
			"put it behind a proxy that authenticates, or listen on localhost (OSSA_HOST)", "addresses", addrs)
	}
	return nil
}

func (g *gateway) URL() string { return g.srv.URL() }

func (g *gateway) Shutdown(ctx context.Context) error { return g.srv.Shutdown(ctx) }
