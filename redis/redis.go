// Package redis connects the gateway to Redis: the event bus between
// replicas (bus.go), under names that carry the deployment's prefix.
package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	goredis "github.com/redis/go-redis/v9"
)

// Client is a Redis connection pool, with the prefix of every name the
// platform uses on that Redis.
type Client struct {
	*goredis.Client
	prefix string
}

// Option changes how Open sets up a client.
type Option func(*options)

type options struct{ prefix string }

// WithPrefix sets the prefix of every Redis name the client builds (see
// Client.Name); empty keeps the default, DefaultPrefix of the URL's
// database.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// DefaultPrefix is the prefix of a client on database db when none is set:
// "ossa:<db>:". Redis pub/sub channels are shared by every database of a
// server, so the database number in the prefix keeps deployments on
// separate databases from hearing each other.
func DefaultPrefix(db int) string { return "ossa:" + strconv.Itoa(db) + ":" }

// MaxPrefix is the longest prefix CheckPrefix accepts, in bytes.
const MaxPrefix = 64

// CheckPrefix says what is wrong with prefix, if anything: it must be 1 to
// MaxPrefix bytes of UTF-8 without spaces or control characters, and
// without the glob characters * ? [ ] \, so that every name under it can
// be matched by prefix + "*" (SCAN MATCH, PSUBSCRIBE).
func CheckPrefix(prefix string) error {
	switch {
	case prefix == "":
		return fmt.Errorf("must not be empty")
	case len(prefix) > MaxPrefix:
		return fmt.Errorf("must be at most %d bytes, not %d", MaxPrefix, len(prefix))
	case !utf8.ValidString(prefix):
		return fmt.Errorf("must be UTF-8")
	}
	for _, r := range prefix {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return fmt.Errorf("must not contain spaces or control characters (%q)", r)
		case strings.ContainsRune(`*?[]\`, r):
			return fmt.Errorf("must not contain the glob character %q", r)
		}
	}
	return nil
}

// Open parses url and returns a client; it does not wait for Redis, so the
// gateway starts (degraded) while Redis is down.
//
// Commands fail fast while Redis is away: one dial per command and no
// retry, so that a caller (/health, the event bus, a request) learns it at
// once, within its context's deadline, instead of after seconds of retries.
// The callers that need to keep trying (the event bus's subscription) do so
// at their own pace.
func Open(url string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ro, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	prefix := o.prefix
	if prefix == "" {
		prefix = DefaultPrefix(ro.DB)
	}
	if err := CheckPrefix(prefix); err != nil {
		return nil, fmt.Errorf("redis prefix %q: %w", prefix, err)
	}
	ro.MaxRetries = -1 // none
	ro.DialerRetries = 1
	ro.DialTimeout = 2 * time.Second
	// A context's deadline bounds the socket reads and writes too, not
	// only the waits between them.
	ro.ContextTimeoutEnabled = true
	quietGoRedis.Do(func() { goredis.SetLogger(debugLogger{}) })
	return &Client{Client: goredis.NewClient(ro), prefix: prefix}, nil
}

// Prefix is what every Redis name the client builds starts with.
func (c *Client) Prefix() string { return c.prefix }

// Name is the Redis name (key or channel) of name for this deployment:
// the prefix followed by name. Every key and channel the platform uses is
// built by it, so that deployments sharing a Redis never meet.
func (c *Client) Name(name string) string { return c.prefix + name }

// Ping checks that Redis answers. While Redis is away it fails after one
// dial: at once when the port is closed, within ctx when the host does not
// answer.
func (c *Client) Ping(ctx context.Context) error { return c.Client.Ping(ctx).Err() }

// quietGoRedis turns go-redis's own log, which writes a line to stderr at
// every failed dial, into debug records of slog's default logger: the bus
// reports Redis going away and coming back, once each.
var quietGoRedis sync.Once

type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
