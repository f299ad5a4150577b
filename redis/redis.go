// Package redis connects the gateway to Redis, with go-redis set up as the
// developer guide sets up its client.
package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Client is a Redis connection pool.
type Client struct {
	*goredis.Client
}

// Open parses url and returns a client; it does not wait for Redis, so the
// gateway starts (degraded) while Redis is down.
func Open(url string) (*Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	// The guide's ioredis settings: three retries, backoff growing by 50 ms
	// up to 2 s.
	opts.MaxRetries = 3
	opts.MinRetryBackoff = 50 * time.Millisecond
	opts.MaxRetryBackoff = 2 * time.Second
	opts.DialTimeout = 2 * time.Second
	return &Client{goredis.NewClient(opts)}, nil
}

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error { return c.Client.Ping(ctx).Err() }
