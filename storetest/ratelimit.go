package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// RunRateLimiter is the conformance suite every RateLimiter passes: the
// in-process one, the Redis one, and the Redis one answering from its
// fallback while Redis is away. newLimiter returns a limiter of perMinute
// requests a minute per key, with no count yet for any key.
//
// Each limiter is a bucket of perMinute requests per key, refilled at
// perMinute a minute: a client may burst a whole minute's allowance, then
// goes at the steady rate. The decisions carry what the RateLimit headers
// say: the bucket's size, what is left of it, how long until it is full
// again and, when refused, how long until the next request is allowed.
func RunRateLimiter(t *testing.T, newLimiter func(t *testing.T, perMinute int) platform.RateLimiter) {
	ctx := context.Background()
	allow := func(t *testing.T, l platform.RateLimiter, key string) platform.RateDecision {
		t.Helper()
		d, err := l.Allow(ctx, key)
		if err != nil {
			t.Fatalf("Allow(%q): %v", key, err)
		}
		return d
	}
	// near says whether got is want, give or take slack (the clock moves
	// between requests, and Redis counts in its own).
	near := func(got, want time.Duration) bool {
		const slack = time.Second
		return got >= want-slack && got <= want+slack
	}

	t.Run("Burst", func(t *testing.T) {
		t.Parallel()
		const limit = 5 // one request every 12 s
		l := newLimiter(t, limit)
		for i := range limit {
			d := allow(t, l, "client")
			if !d.Allowed || d.Limit != limit || d.Remaining != limit-1-i || !near(d.Reset, time.Duration(i+1)*12*time.Second) ||
				d.RetryAfter != 0 {
				t.Fatalf("request %d: %+v; want allowed, limit %d, %d remaining, full again in %ds", i+1, d, limit, limit-1-i, (i+1)*12)
			}
		}
		d := allow(t, l, "client")
		if d.Allowed || d.Limit != limit || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 12*time.Second ||
			!near(d.Reset, time.Minute) {
			t.Fatalf("request %d: %+v; want refused, nothing remaining, retry within 12 s, full again in a minute", limit+1, d)
		}
	})

	t.Run("KeysApart", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t, 1)
		if d := allow(t, l, "a"); !d.Allowed {
			t.Fatalf("a's first request: %+v", d)
		}
		if d := allow(t, l, "a"); d.Allowed || !near(d.RetryAfter, time.Minute) {
			t.Fatalf("a's second request: %+v; want refused for a minute", d)
		}
		for _, key := range []string{"b", "A", "a ", "addr:192.0.2.1", "key:api_key:k1", "ключ"} {
			if d := allow(t, l, key); !d.Allowed || d.Remaining != 0 {
				t.Fatalf("first request of %q: %+v; want allowed, as its own bucket", key, d)
			}
		}
	})

	t.Run("Refill", func(t *testing.T) {
		t.Parallel()
		const limit = 60 // one request a second
		l := newLimiter(t, limit)
		// The burst, and what came back while it was sent on a busy
		// machine: requests until the first refusal.
		var d platform.RateDecision
		for i := 0; ; i++ {
			d = allow(t, l, "client")
			if !d.Allowed {
				if i < limit {
					t.Fatalf("request %d of the burst refused: %+v", i+1, d)
				}
				break
			}
			if i > 2*limit {
				t.Fatalf("%d requests allowed with a limit of %d a minute", i+1, limit)
			}
		}
		if d.RetryAfter <= 0 || d.RetryAfter > time.Second {
			t.Fatalf("request after the burst: %+v; want refused, retry within a second", d)
		}
		time.Sleep(d.RetryAfter + 50*time.Millisecond)
		if d := allow(t, l, "client"); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("request after Retry-After: %+v; want allowed, the one token back", d)
		}
		if d := allow(t, l, "client"); d.Allowed {
			t.Fatalf("second request after Retry-After: %+v; want refused", d)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		const limit, workers, each = 10, 8, 5 // one request every 6 s: none comes back during the test
		l := newLimiter(t, limit)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					d, err := l.Allow(ctx, "client")
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != limit {
			t.Fatalf("%d of %d concurrent requests allowed, want exactly %d", got, workers*each, limit)
		}
	})
}
