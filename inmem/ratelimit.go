// Package inmem holds the in-process implementations of platform services,
// for a single gateway with no external dependency.
package inmem

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
	"golang.org/x/time/rate"
)

// RateLimiter is a token bucket per client, refilled at PerMinute tokens a
// minute up to PerMinute: a client may burst the whole minute's allowance
// and then goes at the steady rate.
type RateLimiter struct {
	perMinute int
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

var _ platform.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a limiter allowing perMinute requests a minute per
// client.
func NewRateLimiter(perMinute int) *RateLimiter {
	return &RateLimiter{perMinute: perMinute, now: time.Now, buckets: map[string]*bucket{}}
}

// Backend is "memory", for /health: the counts are this process's.
func (l *RateLimiter) Backend() string { return "memory" }

// Allow takes one token from key's bucket if it has one.
func (l *RateLimiter) Allow(_ context.Context, key string) (platform.RateDecision, error) {
	now := l.now()
	perSecond := float64(l.perMinute) / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(perSecond), l.perMinute)}
		l.buckets[key] = b
	}
	b.seen = now
	allowed := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	d := platform.RateDecision{
		Allowed:   allowed,
		Limit:     l.perMinute,
		Remaining: max(int(math.Floor(tokens)), 0),
		Reset:     seconds((float64(l.perMinute) - tokens) / perSecond),
	}
	if !allowed {
		d.RetryAfter = seconds((1 - tokens) / perSecond)
	}
	return d, nil
}

// sweep forgets buckets idle for a minute: they are full again, so a new
// bucket is the same. It runs at most once a minute.
func (l *RateLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.seen) > time.Minute {
			delete(l.buckets, k)
		}
	}
}

func seconds(s float64) time.Duration {
	return time.Duration(math.Max(s, 0) * float64(time.Second))
}
