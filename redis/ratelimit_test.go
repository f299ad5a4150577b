package redis_test

import (
	"bytes"
	"context"
	"log/slog"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/storetest"
)

// openPrefixed opens a client of url under a prefix of the test's own.
func openPrefixed(t testing.TB, url, prefix string) *redis.Client {
	t.Helper()
	c, err := redis.Open(url, redis.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRateLimiter(t *testing.T) {
	url := testenv.RedisURL(t)
	storetest.RunRateLimiter(t, func(t *testing.T, perMinute int) platform.RateLimiter {
		c := openPrefixed(t, url, "ossa-test:"+testenv.RandomName()+":")
		return c.RateLimiter(redis.RateLimiterConfig{PerMinute: perMinute, Logger: slog.New(slog.DiscardHandler)})
	})
}

// TestRateLimiterOnFallback: with Redis away from the start, the limiter
// answers from its fallback, which passes the suite too.
func TestRateLimiterOnFallback(t *testing.T) {
	storetest.RunRateLimiter(t, func(t *testing.T, perMinute int) platform.RateLimiter {
		c := openPrefixed(t, "redis://"+freeAddr(t)+"/0", "ossa-test:")
		return c.RateLimiter(redis.RateLimiterConfig{PerMinute: perMinute, Fallback: inmem.NewRateLimiter(perMinute),
			Logger: slog.New(slog.DiscardHandler)})
	})
}

// TestRateLimiterShared: two replicas' limiters on one Redis and one
// prefix count each key once: the limit holds across them. Another
// prefix, another deployment, counts apart.
func TestRateLimiterShared(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	prefix := "ossa-test:" + testenv.RandomName() + ":"
	const limit = 6
	quiet := slog.New(slog.DiscardHandler)
	replica := func(prefix string) *redis.RateLimiter {
		c := openPrefixed(t, url, prefix)
		return c.RateLimiter(redis.RateLimiterConfig{PerMinute: limit, Fallback: inmem.NewRateLimiter(limit), Logger: quiet})
	}
	a, b := replica(prefix), replica(prefix)
	ctx := context.Background()
	allowed := 0
	for i := range 2 * limit {
		l := a
		if i%2 == 1 {
			l = b
		}
		d, err := l.Allow(ctx, "addr:192.0.2.7")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
			if d.Remaining != limit-allowed {
				t.Fatalf("request %d: %d remaining after %d allowed, want %d", i+1, d.Remaining, allowed, limit-allowed)
			}
		}
	}
	if allowed != limit {
		t.Fatalf("%d of %d requests allowed across two replicas, want %d", allowed, 2*limit, limit)
	}
	// The bucket is under the prefix, as every name of the platform.
	c := openPrefixed(t, url, prefix)
	if n, err := c.Exists(ctx, c.Name("rate:addr:192.0.2.7")).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %s = %d, %v", c.Name("rate:addr:192.0.2.7"), n, err)
	}
	if n, err := c.Exists(ctx, "rate:"+c.Name("addr:192.0.2.7")).Result(); err != nil || n != 0 {
		t.Fatalf("a key outside the prefix: EXISTS = %d, %v", n, err)
	}
	other := replica("ossa-test:" + testenv.RandomName() + ":")
	if d, err := other.Allow(ctx, "addr:192.0.2.7"); err != nil || !d.Allowed {
		t.Fatalf("another deployment's first request: %+v, %v", d, err)
	}
}

// TestRateLimiterFallsBackAndReturns: Redis goes away (a proxy in front
// of it closes) and comes back. Meanwhile requests are answered by the
// fallback, at once; each switch is one log line and moves the metrics;
// Ping says the limits are per replica; and the first try once Redis
// answers puts the limiter back on it.
func TestRateLimiterFallsBackAndReturns(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	px := testenv.StartProxy(t, u.Host)
	u.Host = px.Addr
	logs := &syncBuffer{}
	c := openPrefixed(t, u.String(), "ossa-test:"+testenv.RandomName()+":")
	const limit = 3
	fallback := inmem.NewRateLimiter(limit)
	l := c.RateLimiter(redis.RateLimiterConfig{PerMinute: limit, Fallback: fallback, RetryEvery: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	ctx := context.Background()
	metric := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	allow := func(key string) platform.RateDecision {
		t.Helper()
		d, err := l.Allow(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// On Redis: the shared bucket of "a" is spent.
	for range limit {
		if d := allow("a"); !d.Allowed {
			t.Fatalf("on redis: %+v", d)
		}
	}
	if allow("a").Allowed || metric("ossa_rate_limit_fallback") != 0 || l.Ping(ctx) != nil {
		t.Fatal("on redis: the bucket is not spent, or the limiter says it is on its fallback")
	}

	// Redis goes away: the fallback answers, with its own counts (a is
	// new to it), every request at once.
	px.Close()
	start := time.Now()
	for i := range limit {
		if d := allow("a"); !d.Allowed || d.Remaining != limit-1-i {
			t.Fatalf("request %d on the fallback: %+v", i+1, d)
		}
	}
	if d := allow("a"); d.Allowed {
		t.Fatalf("the fallback does not limit: %+v", d)
	}
	for range 50 {
		allow("b")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("54 requests with redis away took %v", took)
	}
	if metric("ossa_rate_limit_fallback") != 1 || metric("ossa_rate_limit_fallbacks_total") != 1 {
		t.Fatalf("fallback metrics %v, %v; want 1, 1", metric("ossa_rate_limit_fallback"), metric("ossa_rate_limit_fallbacks_total"))
	}
	if err := l.Ping(ctx); err == nil || !strings.Contains(err.Error(), "per replica") {
		t.Fatalf("Ping on the fallback = %v", err)
	}
	if n := strings.Count(logs.String(), `msg="rate limiting in redis failed`); n != 1 {
		t.Fatalf("%d log lines for the fall back, want 1:\n%s", n, logs)
	}

	// Redis is back: within RetryEvery a request tries it, and the
	// limiter is back on the shared bucket, which a spent.
	px.Open()
	deadline := time.Now().Add(5 * time.Second)
	for metric("ossa_rate_limit_fallback") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still on the fallback 5 s after redis came back:\n%s", logs)
		}
		allow("c")
		time.Sleep(20 * time.Millisecond)
	}
	if d := allow("a"); d.Allowed {
		t.Fatalf("back on redis, a's shared bucket is not spent: %+v", d)
	}
	if n := strings.Count(logs.String(), `msg="rate limiting in redis works again`); n != 1 {
		t.Fatalf("%d log lines for the return, want 1:\n%s", n, logs)
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := testutil.CollectAndCount(l); got != 2 {
		t.Fatalf("%d metrics collected, want 2", got)
	}

	// Once more, now found by Ping (as /health calls it): it puts the
	// limiter back on Redis when Redis answers.
	px.Close()
	allow("d")
	if metric("ossa_rate_limit_fallbacks_total") != 2 {
		t.Fatalf("fallbacks_total = %v, want 2", metric("ossa_rate_limit_fallbacks_total"))
	}
	px.Open()
	if err := l.Ping(ctx); err != nil || metric("ossa_rate_limit_fallback") != 0 {
		t.Fatalf("Ping with redis back = %v; fallback = %v", err, metric("ossa_rate_limit_fallback"))
	}
}

// TestRateLimiterWithoutFallback: without a fallback, a Redis failure is
// Allow's error.
func TestRateLimiterWithoutFallback(t *testing.T) {
	t.Parallel()
	c := openPrefixed(t, "redis://"+freeAddr(t)+"/0", "ossa-test:")
	l := c.RateLimiter(redis.RateLimiterConfig{PerMinute: 10, Logger: slog.New(slog.DiscardHandler)})
	if _, err := l.Allow(context.Background(), "a"); err == nil {
		t.Fatal("Allow succeeded with redis away and no fallback")
	}
}

// TestRateLimiterCallerGone: a request whose caller has gone is answered
// by the fallback, and does not make the limiter fall back.
func TestRateLimiterCallerGone(t *testing.T) {
	t.Parallel()
	c := openPrefixed(t, testenv.RedisURL(t), "ossa-test:"+testenv.RandomName()+":")
	l := c.RateLimiter(redis.RateLimiterConfig{PerMinute: 10, Fallback: inmem.NewRateLimiter(10), Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := l.Allow(ctx, "a"); err != nil || !d.Allowed {
		t.Fatalf("Allow with the caller gone = %+v, %v", d, err)
	}
	if err := l.Ping(context.Background()); err != nil {
		t.Fatalf("the limiter fell back for a caller that went: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkRateLimiter is the cost of one request's decision: in process,
// and in Redis (one EVALSHA round trip to TEST_REDIS_URL), each over many
// keys as a busy gateway has.
func BenchmarkRateLimiter(b *testing.B) {
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "addr:192.0.2." + strconv.Itoa(i)
	}
	run := func(b *testing.B, l platform.RateLimiter) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := l.Allow(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, inmem.NewRateLimiter(1_000_000)) })
	b.Run("redis", func(b *testing.B) {
		c := openPrefixed(b, testenv.RedisURL(b), "ossa-bench:"+testenv.RandomName()+":")
		run(b, c.RateLimiter(redis.RateLimiterConfig{PerMinute: 1_000_000, Logger: slog.New(slog.DiscardHandler)}))
	})
}
