package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ossa-platform/platform"
)

// RateLimiterConfig configures Client.RateLimiter.
type RateLimiterConfig struct {
	// PerMinute is the bucket of every key: requests a minute, all of
	// which a client may spend at once.
	PerMinute int
	// Fallback answers while Redis does not: the in-process limiter, whose
	// counts are this replica's alone. Nil: Allow returns Redis's error.
	Fallback platform.RateLimiter
	// Timeout bounds each Redis call of Allow; past it the request is
	// answered by Fallback. Default 250 ms.
	Timeout time.Duration
	// RetryEvery is how often, while on Fallback, one request tries Redis
	// again (the others do not wait on it). Default 1 s.
	RetryEvery time.Duration
	// Logger gets a line each time the limiter falls back and each time
	// it is back on Redis; slog.Default() when nil.
	Logger *slog.Logger
}

// RateLimiter is the limiter every replica shares: a GCRA bucket per key
// in Redis (github.com/go-redis/redis_rate), one Lua script per request,
// timed by Redis's clock, so that replicas' clocks need not agree. Its
// keys are Client.Name("rate:" + key), and expire once their bucket is
// full again.
//
// While Redis fails, requests are answered by the fallback, and a
// request every RetryEvery tries Redis again: the first that succeeds
// puts the limiter back on Redis. Each switch is one log line, and the
// metrics ossa_rate_limit_fallback (1 while on the fallback) and
// ossa_rate_limit_fallbacks_total tell it too.
type RateLimiter struct {
	client *Client
	lim    *redis_rate.Limiter
	limit  redis_rate.Limit
	cfg    RateLimiterConfig
	log    *slog.Logger

	fallbackGauge prometheus.Gauge
	fallbacks     prometheus.Counter

	mu       sync.Mutex
	down     time.Time // since when on the fallback; zero while on Redis
	lastErr  error     // why, while on the fallback
	nextTry  time.Time // when a request may try Redis again
	failures int       // failed tries since down
}

var (
	_ platform.RateLimiter = (*RateLimiter)(nil)
	_ prometheus.Collector = (*RateLimiter)(nil)
)

// RateLimiter returns the limiter shared through this Redis by every
// replica with the same prefix.
func (c *Client) RateLimiter(cfg RateLimiterConfig) *RateLimiter {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 250 * time.Millisecond
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &RateLimiter{
		client: c,
		lim:    redis_rate.NewLimiter(prefixed{c}),
		limit:  redis_rate.PerMinute(cfg.PerMinute),
		cfg:    cfg,
		log:    log,
		fallbackGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ossa_rate_limit_fallback",
			Help: "1 while this replica's rate limits are counted in process because Redis fails, 0 while they are shared through Redis.",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ossa_rate_limit_fallbacks_total",
			Help: "Times this replica's rate limiter fell back to counting in process because Redis failed.",
		}),
	}
}

// Backend is "redis", for /health.
func (l *RateLimiter) Backend() string { return "redis" }

// Allow takes one request from key's bucket in Redis, or from the
// fallback's while Redis fails.
func (l *RateLimiter) Allow(ctx context.Context, key string) (platform.RateDecision, error) {
	if !l.tryRedis() {
		return l.cfg.Fallback.Allow(ctx, key)
	}
	rctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	res, err := l.lim.Allow(rctx, key, l.limit)
	cancel()
	if err == nil {
		l.succeeded()
		d := platform.RateDecision{
			Allowed:   res.Allowed > 0,
			Limit:     l.cfg.PerMinute,
			Remaining: max(res.Remaining, 0),
			Reset:     max(res.ResetAfter, 0),
		}
		if !d.Allowed {
			d.RetryAfter = max(res.RetryAfter, 0)
		}
		return d, nil
	}
	if ctx.Err() == nil {
		// Redis failed, not the caller, who is still waiting.
		l.failed(err)
	}
	if l.cfg.Fallback == nil {
		return platform.RateDecision{}, fmt.Errorf("rate limit in redis: %w", err)
	}
	return l.cfg.Fallback.Allow(ctx, key)
}

// Ping reports whether rate limits are shared: nil while on Redis, and
// while on the fallback once Redis runs the limiter's script again (which
// puts it back on Redis), or why not. /health calls it.
func (l *RateLimiter) Ping(ctx context.Context) error {
	l.mu.Lock()
	down, lastErr := l.down, l.lastErr
	l.mu.Unlock()
	if down.IsZero() {
		return nil
	}
	// Spending nothing (n = 0) runs the script and changes no count.
	if _, err := l.lim.AllowN(ctx, "", l.limit, 0); err != nil {
		if ctx.Err() == nil {
			lastErr = err
		}
		return fmt.Errorf("rate limits are counted per replica, in process, since %s: %w",
			down.UTC().Format(time.RFC3339), lastErr)
	}
	l.succeeded()
	return nil
}

// tryRedis says whether this request asks Redis: always while on Redis;
// on the fallback, one request every RetryEvery.
func (l *RateLimiter) tryRedis() bool {
	if l.cfg.Fallback == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down.IsZero() {
		return true
	}
	now := time.Now()
	if now.Before(l.nextTry) {
		return false
	}
	l.nextTry = now.Add(l.cfg.RetryEvery)
	return true
}

// failed notes a Redis failure, and falls back if on Redis.
func (l *RateLimiter) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastErr = err
	l.failures++
	if !l.down.IsZero() {
		return
	}
	now := time.Now()
	l.down, l.nextTry, l.failures = now, now.Add(l.cfg.RetryEvery), 1
	l.fallbackGauge.Set(1)
	l.fallbacks.Inc()
	if l.cfg.Fallback == nil {
		l.log.Warn("rate limiting in redis failed; requests are not limited until it works again", "error", err.Error())
		return
	}
	l.log.Warn("rate limiting in redis failed; each replica counts its own requests until it works again",
		"error", err.Error())
}

// succeeded puts the limiter back on Redis if it was on the fallback.
func (l *RateLimiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down.IsZero() {
		return
	}
	l.log.Info("rate limiting in redis works again; limits are shared by the replicas again",
		"down_for", time.Since(l.down).Round(time.Millisecond).String(), "failures", l.failures)
	l.down, l.lastErr, l.failures = time.Time{}, nil, 0
	l.fallbackGauge.Set(0)
}

// Describe is part of prometheus.Collector.
func (l *RateLimiter) Describe(ch chan<- *prometheus.Desc) {
	l.fallbackGauge.Describe(ch)
	l.fallbacks.Describe(ch)
}

// Collect is part of prometheus.Collector.
func (l *RateLimiter) Collect(ch chan<- prometheus.Metric) {
	l.fallbackGauge.Collect(ch)
	l.fallbacks.Collect(ch)
}

// prefixed is the client as redis_rate sees it: every key it names
// ("rate:" + key) is put under the client's prefix, as every Redis name
// of the platform is (Client.Name).
type prefixed struct{ c *Client }

func (p prefixed) names(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.c.Name(k)
	}
	return out
}

func (p prefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return p.c.Eval(ctx, script, p.names(keys), args...)
}

func (p prefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return p.c.EvalSha(ctx, sha1, p.names(keys), args...)
}

func (p prefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return p.c.EvalRO(ctx, script, p.names(keys), args...)
}

func (p prefixed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return p.c.EvalShaRO(ctx, sha1, p.names(keys), args...)
}

func (p prefixed) ScriptExists(ctx context.Context, hashes ...string) *goredis.BoolSliceCmd {
	return p.c.ScriptExists(ctx, hashes...)
}

func (p prefixed) ScriptLoad(ctx context.Context, script string) *goredis.StringCmd {
	return p.c.ScriptLoad(ctx, script)
}

func (p prefixed) Del(ctx context.Context, keys ...string) *goredis.IntCmd {
	return p.c.Del(ctx, p.names(keys)...)
}
