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
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/auth"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/events"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/oidc"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/queue"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/secrets"
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
	// Out is where the first start shows the admin key it made, once
	// (beside the file it writes); nil: only the file has it. Never the
	// log: keys stay out of logs.
	Out io.Writer
	// Server is the HTTP gateway, and Hub the event hub, set by Open.
	Server *ohttp.Server
	Hub    *events.Hub
	// Auth checks the credentials of every request, with OSSA_AUTH=keys;
	// nil with OSSA_AUTH=none. Set by Open.
	Auth *auth.Authenticator
	// OIDC checks OpenID Connect bearer tokens, set by Open when
	// OSSA_OIDC_ISSUER is; nil otherwise. It is built before the services,
	// which find it in Shared.OIDC.
	OIDC *oidc.Verifier

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
	platform.KeyStore
	platform.SecretStore
	platform.AuditStore
	platform.TicketStore
	platform.AgentTextSearch
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
	if err := m.Config.Validate(); err != nil {
		return err
	}
	if err := m.openOIDC(ctx); err != nil {
		return err
	}
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
	disc, err := m.openDiscovery(ctx, db, hub, reg)
	if err != nil {
		return fmt.Errorf("agent discovery: %w", err)
	}
	vault, err := m.openSecrets(ctx, db)
	if err != nil {
		return err
	}
	client := invoke.New()
	client.MaxResponseBytes = m.Config.AgentMaxResponseBytes
	// Every call to an agent, probes and A2A card fetches included, dials
	// through this guard: an endpoint's name is judged again on the
	// address it resolves to when called.
	client.Guard = m.Config.AgentNetworks.Guard
	var sec platform.Secrets
	if vault != nil {
		client.Secrets, sec = vault, vault
	}
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
		Discoverer: disc.Service,
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
	if m.Config.Auth != "none" {
		if err := m.openAuth(ctx, db); err != nil {
			return err
		}
	}
	sh := &Shared{Config: m.Config, Store: db, Logger: m.Logger, Registry: reg, Events: hub, Engine: eng, Redis: rc, Auth: m.Auth, OIDC: m.OIDC, Secrets: sec, Discovery: disc}
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

// openAuth makes the authenticator of API keys (and OpenID Connect
// tokens), and on the first start the admin key: shown once on m.Out and
// kept in the data directory's AdminKeyFile, where the CLI finds it.
func (m *Main) openAuth(ctx context.Context, db Store) error {
	m.Auth = &auth.Authenticator{Keys: db, Logger: m.Logger}
	if m.OIDC != nil {
		m.Auth.Tokens = m.OIDC
	}
	key, path, err := auth.Bootstrap(ctx, db, m.Config.DataDir)
	if err != nil {
		return fmt.Errorf("make the first admin key: %w", err)
	}
	if key != "" {
		prefix, _ := platform.APIKeyLookup(key)
		m.Logger.Info("made the first admin key; it is in the file, and shown once on standard output",
			"prefix", prefix, "file", path)
		if m.Out != nil {
			fmt.Fprintf(m.Out, "OSSA Platform made its first admin key (shown this once; also in %s, readable by you only):\n\n    %s\n\n"+
				"The ossa CLI on this machine uses it from there. For curl: export OSSA_API_KEY=$(cat %s)\n", path, key, path)
		}
	}
	touch, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); m.Auth.Run(touch, 0) }()
	m.closers = append(m.closers, func() error { stop(); <-done; return nil })
	return nil
}

// openOIDC builds the verifier of OpenID Connect tokens when an issuer
// is configured. An issuer that cannot be reached does not stop the
// start: the verifier waits up to 5 s for it, then keeps trying, with
// backoff, as tokens come, refusing them with 503 meanwhile. An issuer
// that answers, but contradicts the settings, does.
func (m *Main) openOIDC(ctx context.Context) error {
	c := m.Config
	if c.OIDCIssuer == "" {
		return nil
	}
	v, err := oidc.New(ctx, oidc.Config{
		Issuer:     c.OIDCIssuer,
		Audience:   c.OIDCAudience,
		Algorithms: c.OIDCAlgorithms,
		Claims: oidc.Mapping{
			NamespaceClaim:  c.OIDCNamespaceClaim,
			NamespacesClaim: c.OIDCNamespacesClaim,
			NamespacePrefix: c.OIDCNamespacePrefix,
			ScopesClaim:     c.OIDCScopesClaim,
			DefaultScopes:   c.OIDCDefaultScopes,
		},
		Logger: m.Logger,
	}, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("OpenID Connect (OSSA_OIDC_ISSUER, OSSA_OIDC_AUDIENCE, OSSA_OIDC_*): %w", err)
	}
	m.OIDC = v
	m.Logger.Info("OpenID Connect tokens accepted", "issuer", c.OIDCIssuer, "audience", c.OIDCAudience,
		"namespace_claim", c.OIDCNamespaceClaim, "scopes_claim", c.OIDCScopesClaim)
	return nil
}

// openSecrets opens the vault of agents' secrets under OSSA_SECRET_KEY,
// and OSSA_SECRET_KEY_PREVIOUS. Without a key, the embedded database's
// secrets are encrypted under a key kept in the data directory
// (SecretKeyFile), made on the first start, so that the quick start needs
// no setting; a PostgreSQL deployment, whose replicas must share a key,
// keeps no secrets until it is given one, and nil is returned. A key file
// found beside a set OSSA_SECRET_KEY still decrypts, as a previous key.
func (m *Main) openSecrets(ctx context.Context, db Store) (*secrets.Vault, error) {
	current := []byte(m.Config.SecretKey)
	var previous [][]byte
	for _, k := range m.Config.SecretKeysPrevious {
		previous = append(previous, k)
	}
	if db.Backend() == "sqlite" {
		path := filepath.Join(m.Config.DataDir, SecretKeyFile)
		switch _, statErr := os.Stat(path); {
		case current == nil:
			if err := os.MkdirAll(m.Config.DataDir, 0o750); err != nil {
				return nil, fmt.Errorf("create data directory (OSSA_DATA_DIR): %w", err)
			}
			key, created, err := secrets.LoadKeyFile(path)
			if err != nil {
				return nil, fmt.Errorf("OSSA_SECRET_KEY is not set, and %w", err)
			}
			if created {
				m.Logger.Warn("generated the key agents' secrets are encrypted under, in the data directory beside the database: "+
					"set OSSA_SECRET_KEY in production (docs/security-secrets.md)", "file", path)
			}
			current = key
		case statErr == nil:
			key, _, err := secrets.LoadKeyFile(path)
			if err != nil {
				return nil, err
			}
			previous = append(previous, key)
			m.Logger.Info("the key file in the data directory still decrypts the secrets encrypted under it: "+
				"run ossa secrets rotate, then delete the file", "file", path)
		}
	}
	if current == nil {
		m.Logger.Info("agents' secrets are off: set OSSA_SECRET_KEY to keep them")
		return nil, nil
	}
	ring, err := secrets.NewKeyring(current, previous...)
	if err != nil {
		return nil, err
	}
	vault := secrets.NewVault(db, ring)
	old, unknown, err := vault.Stale(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the secrets: %w", err)
	}
	if old > 0 {
		m.Logger.Info("secrets are encrypted under a previous key: run ossa secrets rotate to re-encrypt them under OSSA_SECRET_KEY",
			"secrets", old, "key_id", ring.CurrentID())
	}
	if unknown > 0 {
		m.Logger.Warn("secrets are encrypted under a key this gateway does not have, so the agents that use them cannot be called: "+
			"add that key to OSSA_SECRET_KEY_PREVIOUS, or set the secrets anew", "secrets", unknown)
	}
	return vault, nil
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
	m.closers, m.serving, m.Hub, m.OIDC = nil, nil, nil, nil
	if m.ownStore {
		m.Store, m.ownStore = nil, false
	}
	return errors.Join(errs...)
}

// RotateSecrets re-encrypts under OSSA_SECRET_KEY every secret of the
// database cfg names that is encrypted under another key, opening the
// database itself (migrating it, as a start would) and nothing else:
// `ossa secrets rotate`. It may run while gateways serve the same
// database. The report lists the secrets no key of cfg decrypts.
func RotateSecrets(ctx context.Context, cfg Config, logOut io.Writer) (rep secrets.RotateReport, err error) {
	if err := cfg.Validate(); err != nil {
		return secrets.RotateReport{}, err
	}
	m := New(cfg, logOut)
	defer func() { err = errors.Join(err, m.Close(context.WithoutCancel(ctx))) }()
	db, err := m.openStore(ctx)
	if err != nil {
		return secrets.RotateReport{}, err
	}
	vault, err := m.openSecrets(ctx, db)
	if err != nil {
		return secrets.RotateReport{}, err
	}
	if vault == nil {
		return secrets.RotateReport{}, errors.New("OSSA_SECRET_KEY is not set: there is no key to re-encrypt the secrets under")
	}
	return vault.Rotate(ctx)
}
