// Package serve is `ossa serve`: its configuration (Config, from flags,
// the environment and a .env file) and the wiring (Main) that opens the
// store, Redis, the event hub, the engine and the run queue, hosts the
// HTTP services over them (the gateway, and any other Service on a port of
// its own), and closes it all, newest first, with one shutdown. The binary
// and the tests (package ossatest) run the same Main. With the binary, it
// is the only code that knows which backends exist.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/events"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/queue"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/sqlite"
)

// Main is the running platform: the configuration and every adapter it
// wires together. Tests run it on port 0 with a temporary data directory
// (ossatest.Start).
type Main struct {
	Config Config
	Logger *slog.Logger
	// Store is the database, set by Open. Set before Open, it is a store
	// opened elsewhere, which Main runs over and Close leaves open: its
	// owner closes it, and with it the run queue Open started on it.
	Store Store
	// Services are the HTTP services hosted beside the gateway, each on a
	// listener of its own, over what the gateway uses too (Shared). Open
	// opens them in order after the gateway; Close shuts them all down
	// together.
	Services []Service
	// ConfigureEngine, when set, is called with the engine's
	// configuration before the engine is built: for what Config does not
	// set.
	ConfigureEngine func(*engine.Config)
	// ConfigureGateway, when set, is called with the gateway before it
	// serves: for what Config does not set. It may change any field.
	ConfigureGateway func(*ohttp.Server)
	// Server is the HTTP gateway, and Hub the event hub, set by Open.
	Server *ohttp.Server
	Hub    *events.Hub

	serving  []Service // gateway first
	closers  []func() error
	ownStore bool
}

// New returns a Main that logs JSON lines to logOut.
func New(cfg Config, logOut io.Writer) *Main {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return &Main{
		Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
}

// Store is what the platform needs of a database: sqlite.DB and
// postgres.DB.
type Store interface {
	platform.AgentStore
	platform.WorkflowStore
	platform.RunStore
	platform.RunLedger
	platform.Database
	platform.EventStore
	platform.AuditStore
	// StartQueue starts working the store's durable run queue.
	StartQueue(ctx context.Context, cfg queue.Config) error
	// OnCommit sets what to call after each committed change.
	OnCommit(fn func())
}

// Open connects the store (migrating it) and the optional dependencies,
// starts the event hub, the engine and the run queue, and opens the
// services: the gateway, then m.Services in order. After an error, Close
// closes what was opened.
func (m *Main) Open(ctx context.Context) error {
	db := m.Store
	if db == nil {
		var err error
		if db, err = m.openStore(ctx); err != nil {
			return err
		}
		m.Store, m.ownStore = db, true
	}
	var bus platform.EventBus
	var rc *redis.Client
	if m.Config.RedisURL != "" {
		var err error
		if rc, err = redis.Open(m.Config.RedisURL, redis.WithPrefix(m.Config.RedisPrefix)); err != nil {
			return err
		}
		m.closers = append(m.closers, rc.Close)
		bus = rc.Bus(m.Logger)
	}
	// One registry for the series of every part and every service, so
	// that the gateway's /metrics shows them all.
	reg := prometheus.NewRegistry()
	// Runs and steps are counted as their events are sequenced: each
	// event by one replica.
	runMetrics := ohttp.NewRunMetrics()
	reg.MustRegister(runMetrics)
	hub := events.New(events.Config{Store: db, Bus: bus, Logger: m.Logger, Retention: m.Config.EventRetention,
		PollInterval: m.Config.EventPollInterval, Buffer: m.Config.EventBuffer, Coalesce: m.Config.EventCoalesce,
		Sequenced: runMetrics.Observe})
	db.OnCommit(hub.Notify)
	if err := hub.Start(ctx); err != nil {
		return fmt.Errorf("start the event hub: %w", err)
	}
	m.Hub = hub
	m.closers = append(m.closers, hub.Close)
	client := invoke.New()
	client.MaxResponseBytes = m.Config.AgentMaxResponseBytes
	health := m.Config.AgentHealthInterval
	if health == 0 {
		health = -1
	}
	// A run whose job has been running this long without a lease lost its
	// executor between fetching the job and leasing the run; River's
	// rescuer then finalizes the job the reaper cancelled.
	stuck := max(4*m.Config.RunLeaseTTL, 5*time.Second)
	ecfg := engine.Config{
		Agents: db, Workflows: db, Runs: db, Invoker: ohttp.InstrumentInvoker(reg, client), Logger: m.Logger,
		LeaseTTL: m.Config.RunLeaseTTL, StuckAfter: stuck, StepTimeout: m.Config.StepTimeout, HealthInterval: health,
		RunRetention: m.Config.RunRetention, Audit: db, AuditRetention: m.Config.AuditRetention,
	}
	if m.ConfigureEngine != nil {
		m.ConfigureEngine(&ecfg)
	}
	eng := engine.New(ecfg)
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
	sh := &Shared{Config: m.Config, Store: db, Logger: m.Logger, Registry: reg, Events: hub, Engine: eng, Redis: rc}
	gw := &gateway{configure: m.ConfigureGateway}
	for _, svc := range append([]Service{gw}, m.Services...) {
		if err := svc.Open(ctx, sh); err != nil {
			return err
		}
		m.serving = append(m.serving, svc)
		if svc == gw {
			m.Server = gw.srv
		}
	}
	return nil
}

func (m *Main) openStore(ctx context.Context) (Store, error) {
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

// Close ends the live event streams, drains the requests in flight on
// every service at once until ctx ends, then closes the engine, the hub,
// Redis and the store (unless it was given), newest first.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.Hub != nil {
		// Live streams end first, so that draining requests does not wait
		// for them; clients reconnect elsewhere and resume.
		errs = append(errs, m.Hub.Close())
	}
	errs = append(errs, m.shutdown(ctx))
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers, m.serving, m.Hub = nil, nil, nil
	if m.ownStore {
		m.Store, m.ownStore = nil, false
	}
	return errors.Join(errs...)
}
