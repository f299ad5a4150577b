package platform

import (
	"context"
	"time"
)

// RateLimiter decides whether a client may make one more request. The
// in-memory limiter serves one process; a shared one (Redis) serves
// several replicas as one.
type RateLimiter interface {
	Allow(ctx context.Context, key string) (RateDecision, error)
}

// RateDecision is a limiter's answer and what the RateLimit headers say.
type RateDecision struct {
	Allowed bool
	// Limit is the bucket's size: requests per window.
	Limit int
	// Remaining is how many requests the client may make now.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter is how long a refused client should wait.
	RetryAfter time.Duration
}
