package inmem

import (
	"context"
	"testing"
	"time"
)

func TestRateLimiterBucket(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewRateLimiter(60) // one token a second, bursts of 60
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 60 {
		d, _ := l.Allow(ctx, "a")
		if !d.Allowed || d.Remaining != 59-i || d.Limit != 60 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d, _ := l.Allow(ctx, "a")
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second || d.Reset != time.Minute {
		t.Fatalf("61st request: %+v", d)
	}
	// Another client has its own bucket.
	if d, _ := l.Allow(ctx, "b"); !d.Allowed {
		t.Fatal("client b was limited by client a")
	}
	// A second later one token is back.
	now = now.Add(time.Second)
	if d, _ := l.Allow(ctx, "a"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after refill: %+v", d)
	}
	// Idle buckets are forgotten once full again.
	now = now.Add(2 * time.Minute)
	l.Allow(ctx, "c")
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets kept after a sweep, want 1", len(l.buckets))
	}
}
