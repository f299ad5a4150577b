package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/auth"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/events"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/oidc"
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
	// Discovery finds agents from a sentence, for the gateway and the
	// engine.
	Discovery *Discovery
	// Auth checks every request's credentials, the same on every service;
	// nil with OSSA_AUTH=none.
	Auth *auth.Authenticator
	// OIDC checks OpenID Connect bearer tokens; nil without
	// OSSA_OIDC_ISSUER.
	OIDC *oidc.Verifier
	// Secrets keeps agents' secrets; nil when the platform has no key.
	Secrets platform.Secrets
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
		Tickets:        sh.Store,
		Orchestrator:   sh.Engine,
		Events:         sh.Events,
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Logger:         sh.Logger,
		Metrics:        sh.Registry,
		Secrets:        sh.Secrets,
		Endpoints:      cfg.AgentNetworks,
	}
	if cfg.RateLimit > 0 {
		local := inmem.NewRateLimiter(cfg.RateLimit)
		srv.Limiter = local
		if sh.Redis != nil {
			// Shared by every replica; this replica's own counts while
			// Redis fails.
			shared := sh.Redis.RateLimiter(redis.RateLimiterConfig{PerMinute: cfg.RateLimit, Fallback: local, Logger: sh.Logger})
			if err := sh.Registry.Register(shared); err != nil {
				return fmt.Errorf("register the rate limiter's metrics: %w", err)
			}
			srv.Limiter = shared
		}
	}
	if sh.Redis != nil {
		srv.Redis = sh.Redis
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if err := cfg.checkTLS(); err != nil {
			return err
		}
		certs, err := ohttp.LoadCertFiles(cfg.TLSCert, cfg.TLSKey, sh.Logger)
		if err != nil {
			return fmt.Errorf("load the TLS certificate (OSSA_TLS_CERT=%s, OSSA_TLS_KEY=%s): %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		srv.TLS = certs.TLSConfig()
	}
	switch cfg.HSTS {
	case "on":
		srv.HSTS = true
	case "off":
		srv.HSTS = false
	default: // auto, or unset in a Config built in code
		srv.HSTS = srv.TLS != nil
	}
	if d := sh.Discovery; d != nil {
		srv.Discovery = d.Service
		if d.Indexer != nil {
			srv.Reindexer = d.Indexer
			srv.Vector, srv.Embeddings = indexHealth{d.Indexer.Index}, embedderHealth{d.Indexer}
		} else if d.Down != nil {
			srv.Embeddings = downHealth{cfg.EmbeddingsModel, d.Down}
		}
	}
	if srv.Vector == nil && cfg.QdrantURL != "" {
		srv.Vector = qdrant.New(cfg.QdrantURL)
	}
	if sh.Auth != nil {
		srv.Authenticator, srv.Keys = sh.Auth, sh.Store
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
	if exposed && srv.Authenticator == nil {
		if !cfg.AuthNoneExpose {
			_ = srv.Shutdown(ctx)
			return fmt.Errorf("OSSA_AUTH=none, and the gateway would listen beyond this machine (%s): anyone who reached it "+
				"could register agents, read every run and make it call any address; turn authentication on (OSSA_AUTH=keys), "+
				"listen on localhost (OSSA_HOST), or say OSSA_AUTH_NONE_EXPOSE=true as well", strings.Join(addrs, ", "))
		}
		sh.Logger.Warn("the gateway listens beyond this machine and its API has no authentication (OSSA_AUTH=none, OSSA_AUTH_NONE_EXPOSE=true): "+
			"anyone who can reach it can register agents and start runs", "addresses", addrs)
	}
	sh.Logger.Info("gateway listening", "url", srv.URL(), "addresses", addrs, "database", sh.Store.Backend(),
		"auth", cfg.Auth, "tls", srv.TLS != nil, "version", platform.Version)
	return nil
}

func (g *gateway) URL() string { return g.srv.URL() }

func (g *gateway) Shutdown(ctx context.Context) error { return g.srv.Shutdown(ctx) }
