package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/events"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/qdrant"
	"github.com/ossa-platform/platform/queue"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/sqlite"
)

// Main is the running platform: the configuration and every adapter it
// wires together. Tests run it on port 0 with a temporary data directory.
type Main struct {
	Config Config
	Logger *slog.Logger
	// Server is the HTTP gateway, set by Open.
	Server *ohttp.Server

	hub     *events.Hub
	closers []func() error
}

// NewMain returns a Main that logs JSON lines to logOut.
func NewMain(cfg Config, logOut io.Writer) *Main {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return &Main{
		Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
}

// store is what Main needs of a database.
type store interface {
	platform.AgentStore
	platform.WorkflowStore
	platform.RunStore
	platform.RunLedger
	platform.Database
	platform.EventStore
	// StartQueue starts working the store's durable run queue.
	StartQueue(ctx context.Context, cfg queue.Config) error
	// OnCommit sets what to call after each committed change.
	OnCommit(fn func())
}

// Open connects the store (migrating it), the optional dependencies, and
// starts the gateway.
func (m *Main) Open(ctx context.Context) error {
	db, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	// The server is built before the engine, whose agent calls it counts
	// on its registry; the engine is set on it before it serves.
	var bus platform.EventBus
	var rc *redis.Client
	if m.Config.RedisURL != "" {
		if rc, err = redis.Open(m.Config.RedisURL, redis.WithPrefix(m.Config.RedisPrefix)); err != nil {
			return err
		}
		m.closers = append(m.closers, rc.Close)
		bus = rc.Bus(m.Logger)
	}
	// Runs and steps are counted as their events are sequenced: each
	// event by one replica.
	runMetrics := ohttp.NewRunMetrics()
	hub := events.New(events.Config{Store: db, Bus: bus, Logger: m.Logger, Retention: m.Config.EventRetention,
		PollInterval: m.Config.EventPollInterval, Buffer: m.Config.EventBuffer, Coalesce: m.Config.EventCoalesce,
		Sequenced: runMetrics.Observe})
	db.OnCommit(hub.Notify)
	if err := hub.Start(ctx); err != nil {
		return fmt.Errorf("start the event hub: %w", err)
	}
	m.hub = hub
	m.closers = append(m.closers, hub.Close)
	srv := &ohttp.Server{
		Addr:           net.JoinHostPort(m.Config.Host, strconv.Itoa(m.Config.Port)),
		Agents:         db,
		Workflows:      db,
		Runs:           db,
		Database:       db,
		Events:         hub,
		CORSOrigins:    m.Config.CORSOrigins,
		TrustedProxies: m.Config.TrustedProxies,
		MaxBodyBytes:   m.Config.MaxBodyBytes,
		Logger:         m.Logger,
	}
	client := invoke.New()
	client.MaxResponseBytes = m.Config.AgentMaxResponseBytes
	srv.Registry().MustRegister(runMetrics)
	inv := ohttp.InstrumentInvoker(srv.Registry(), client)
	health := m.Config.AgentHealthInterval
	if health == 0 {
		health = -1
	}
	// A run whose job has been running this long without a lease lost its
	// executor between fetching the job and leasing the run; River's
	// rescuer then finalizes the job the reaper cancelled.
	stuck := max(4*m.Config.RunLeaseTTL, 5*time.Second)
	eng := engine.New(engine.Config{
		Agents: db, Workflows: db, Runs: db, Invoker: inv, Logger: m.Logger,
		LeaseTTL: m.Config.RunLeaseTTL, StuckAfter: stuck, StepTimeout: m.Config.StepTimeout, HealthInterval: health,
		RunRetention: m.Config.RunRetention,
	})
	if err := db.StartQueue(context.WithoutCancel(ctx), queue.Config{
		Executor:    eng,
		Workers:     m.Config.RunWorkers,
		ReapEvery:   min(m.Config.RunLeaseTTL/2, 5*time.Second),
		RescueAfter: stuck,
		Logger:      m.Logger,
	}); err != nil {
		return fmt.Errorf("start the run queue: %w", err)
	}
	eng.Start()
	m.closers = append(m.closers, eng.Close)
	srv.Orchestrator = eng
	if m.Config.RateLimit > 0 {
		srv.Limiter = inmem.NewRateLimiter(m.Config.RateLimit)
	}
	if rc != nil {
		srv.Redis = rc
	}
	if m.Config.QdrantURL != "" {
		srv.Vector = qdrant.New(m.Config.QdrantURL)
	}
	if err := srv.Open(); err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	m.Server = srv
	var addrs []string
	exposed := false
	for _, a := range srv.Addrs() {
		addrs = append(addrs, a.String())
		exposed = exposed || !a.(*net.TCPAddr).IP.IsLoopback()
	}
	m.Logger.Info("gateway listening", "url", srv.URL(), "addresses", addrs, "database", db.Backend(), "version", platform.Version)
	if exposed {
		m.Logger.Warn("the gateway listens beyond this machine and its API has no authentication: "+
			"anyone who can reach it can register agents and start runs; "+
			"put it behind a proxy that authenticates, or listen on localhost (OSSA_HOST)", "addresses", addrs)
	}
	return nil
}

func (m *Main) openStore(ctx context.Context) (store, error) {
	if m.Config.PostgresURL == "" {
		db, err := sqlite.Open(ctx, m.Config.DataDir)
		if err != nil {
			return nil, fmt.Errorf("open embedded database in %s (OSSA_DATA_DIR): %w", m.Config.DataDir, err)
		}
		m.closers = append(m.closers, db.Close)
		return db, nil
	}
	db, err := postgres.Open(ctx, postgres.Config{
		URL:            m.Config.PostgresURL,
		MaxConns:       int32(m.Config.PostgresMaxConns),
		IdleTimeout:    m.Config.PostgresIdleTimeout,
		ConnectTimeout: m.Config.PostgresConnectTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (POSTGRES_URL): %w", err)
	}
	m.closers = append(m.closers, func() error { db.Close(); return nil })
	return db, nil
}

// Close drains the gateway's requests in flight until ctx ends, then closes
// every connection, newest first.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.hub != nil {
		// Live streams end first, so that draining requests does not wait
		// for them; clients reconnect elsewhere and resume.
		errs = append(errs, m.hub.Close())
	}
	if m.Server != nil {
		errs = append(errs, m.Server.Shutdown(ctx))
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}
