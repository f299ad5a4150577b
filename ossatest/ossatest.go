// Package ossatest starts a real OSSA Platform in one call, for tests and
// for programs that embed one: the wiring `ossa serve` runs
// (cmd/ossa/serve), with the gateway on a free loopback port over a fresh
// embedded database (or PostgreSQL, when asked), the event hub, the engine
// executing runs through the store's durable queue, and any other service
// on a port of its own.
//
//	p := ossatest.Start(t)
//	agent, err := p.Client.CreateAgent(ctx, ohttp.AgentInput{...})
//	stored, err := p.Store.FindAgent(ctx, platform.DefaultNamespace, agent.Name)
//
// The configuration is serve's, with what tests want by default: port 0 on
// 127.0.0.1, a temporary data directory, no rate limit, no agent health
// probes, logs discarded. Options change any of it.
package ossatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/auth"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/testenv"
)

// Store is what the platform needs of a database: sqlite.DB and
// postgres.DB.
type Store = serve.Store

// Platform is a running platform.
type Platform struct {
	// URL is the gateway's base URL, such as "http://127.0.0.1:39113".
	URL string
	// Client is a Go client of the gateway.
	Client *ohttp.Client
	// Store is the database the platform runs over, for assertions.
	Store Store
	// Gateway is the gateway's server.
	Gateway *ohttp.Server
	// Main is the wiring itself: its Config, Hub and Services.
	Main *serve.Main
	// AdminKey is an API key with every right in every namespace, with
	// authentication on (WithAuth); Client sends it.
	AdminKey string

	dir   string // removed by Close: Open's data directory
	once  sync.Once
	close error
}

// Option changes how Start and Open build the platform.
type Option func(*options) error

type options struct {
	t        testing.TB // nil under Open
	cfg      serve.Config
	store    Store
	logs     io.Writer
	engine   []func(*engine.Config)
	gateway  []func(*ohttp.Server)
	services []serve.Service
}

// Config returns the configuration Start and Open begin from, with its
// data directory in dir: serve.DefaultConfig with the gateway on a free
// port of 127.0.0.1, no authentication (WithAuth turns it on), no rate limit (tests send many requests from one
// client), no agent health probes (tests say when an agent is down), 20
// run workers, and the store looked at for unannounced events every 100 ms.
func Config(dir string) serve.Config {
	c := serve.DefaultConfig()
	c.Port, c.Host, c.DataDir = 0, "127.0.0.1", dir
	c.Auth = "none"
	c.RateLimit = 0
	c.AgentHealthInterval = 0
	c.RunWorkers = 20
	c.EventPollInterval = 100 * time.Millisecond
	return c
}

// WithConfig changes the configuration: fn sees what Config and the
// options before it set.
func WithConfig(fn func(*serve.Config)) Option {
	return func(o *options) error { fn(&o.cfg); return nil }
}

// WithPostgres runs the platform on PostgreSQL: in a schema of its own on
// the database of TEST_POSTGRES_URL, dropped when the test ends. Without
// the variable the test skips, saying why (in CI it fails instead). Only
// Start takes it: a program gives its database with WithConfig
// (PostgresURL).
func WithPostgres() Option {
	return func(o *options) error {
		if o.t == nil {
			return errors.New("ossatest: WithPostgres needs a test (Start); set PostgresURL with WithConfig")
		}
		_, _, o.cfg.PostgresURL = testenv.PostgresSchema(o.t)
		return nil
	}
}

// WithStore runs the platform over db, opened by the caller, which closes
// it (and with it the run queue the platform starts on it); the
// configuration's database settings are then not used. Replicas are
// platforms over stores of one database.
func WithStore(db Store) Option {
	return func(o *options) error { o.store = db; return nil }
}

// WithEngine changes the engine's configuration before the engine is
// built: for what the configuration does not set, such as a clock.
func WithEngine(fn func(*engine.Config)) Option {
	return func(o *options) error { o.engine = append(o.engine, fn); return nil }
}

// WithGateway changes the gateway before it serves: for what the
// configuration does not set, such as WebSocket ping intervals or a stand-in
// for Redis in /health. Each fn may change any field.
func WithGateway(fns ...func(*ohttp.Server)) Option {
	return func(o *options) error { o.gateway = append(o.gateway, fns...); return nil }
}

// WithService hosts svcs beside the gateway, each on its own listener,
// sharing the platform's store, logger, registry and shutdown.
func WithService(svcs ...serve.Service) Option {
	return func(o *options) error { o.services = append(o.services, svcs...); return nil }
}

// WithAuth turns authentication on (OSSA_AUTH=keys), as a gateway has it
// by default: the platform's AdminKey is an admin key, which its Client
// sends.
func WithAuth() Option {
	return func(o *options) error { o.cfg.Auth = "keys"; return nil }
}

// WithLogs writes the platform's JSON log lines to w, at the
// configuration's LOG_LEVEL, instead of discarding them.
func WithLogs(w io.Writer) Option {
	return func(o *options) error { o.logs = w; return nil }
}

// Start starts a platform for the test t, in a temporary data directory,
// and closes it when t ends; it stops t if the platform does not start.
func Start(t testing.TB, opts ...Option) *Platform {
	t.Helper()
	p, err := open(context.Background(), t, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("ossatest: close the platform: %v", err)
		}
	})
	return p
}

// Open starts a platform outside a test, in a temporary data directory
// that Close removes.
func Open(ctx context.Context, opts ...Option) (*Platform, error) {
	dir, err := os.MkdirTemp("", "ossatest-")
	if err != nil {
		return nil, err
	}
	p, err := open(ctx, nil, dir, opts)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	p.dir = dir
	return p, nil
}

func open(ctx context.Context, t testing.TB, dir string, opts []Option) (*Platform, error) {
	o := &options{t: t, cfg: Config(dir)}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	logs := o.logs
	if logs == nil {
		logs = io.Discard
	}
	m := serve.New(o.cfg, logs)
	if o.logs == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	m.Store, m.Services = o.store, o.services
	if len(o.engine) > 0 {
		m.ConfigureEngine = func(c *engine.Config) {
			for _, fn := range o.engine {
				fn(c)
			}
		}
	}
	if len(o.gateway) > 0 {
		m.ConfigureGateway = func(s *ohttp.Server) {
			for _, fn := range o.gateway {
				fn(s)
			}
		}
	}
	if err := m.Open(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("ossatest: start the platform: %w", err), m.Close(context.Background()))
	}
	p := &Platform{URL: m.Server.URL(), Client: ohttp.NewClient(m.Server.URL()), Store: m.Store, Gateway: m.Server, Main: m}
	if m.Auth != nil {
		var err error
		if p.AdminKey, err = adminKey(ctx, m); err != nil {
			return nil, errors.Join(err, m.Close(context.Background()))
		}
		p.Client.APIKey = p.AdminKey
	}
	return p, nil
}

// adminKey is the admin key the first start wrote to the data directory,
// or, when another platform over the same store made the first, a new one.
func adminKey(ctx context.Context, m *serve.Main) (string, error) {
	key, err := auth.ReadKeyFile(m.Config.DataDir)
	if err != nil || key != "" {
		return key, err
	}
	key, prefix, hash := platform.NewAPIKeySecret()
	err = m.Store.CreateKey(ctx, &platform.APIKey{Name: "ossatest admin", Namespace: platform.DefaultNamespace,
		Namespaces: []string{platform.AllNamespaces}, Scopes: []platform.Scope{platform.ScopeAdmin},
		Prefix: prefix, Hash: hash, CreatedBy: "ossatest"})
	return key, err
}

// Close drains the platform's requests in flight, for at most the
// configuration's ShutdownTimeout, and closes it; the store too, unless
// it was given (WithStore). Later calls return what the first returned.
func (p *Platform) Close() error {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), p.Main.Config.ShutdownTimeout)
		defer cancel()
		p.close = p.Main.Close(ctx)
		if p.dir != "" {
			p.close = errors.Join(p.close, os.RemoveAll(p.dir))
		}
	})
	return p.close
}
