package main

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	ohttp "github.com/ossa-platform/platform/http"
)

// TestHealthRedisUnreachableAnswersFast checks that /health does not wait
// for a configured Redis that cannot be reached, whether it refuses
// connections or accepts them and never answers: it answers "degraded"
// within a bound (the gateway gives Redis about 150 ms).
func TestHealthRedisUnreachableAnswersFast(t *testing.T) {
	const bound = time.Second
	for _, tt := range []struct{ name, redisURL string }{
		{"refused", "redis://127.0.0.1:1/0"},
		{"silent", "redis://" + blackhole(t) + "/0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newConfig(t)
			c.RedisURL = tt.redisURL
			m := openMain(t, c)
			client := ohttp.NewClient(m.Server.URL())
			for range 3 {
				start := time.Now()
				h, err := client.Health(context.Background())
				elapsed := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				if h.Status != "degraded" || h.Services["redis"] != "down" || h.Dependencies.Redis.Error == "" ||
					h.Services["sqlite"] != "connected" {
					t.Fatalf("health = %+v", h)
				}
				if elapsed > bound {
					t.Fatalf("/health took %s with Redis %s, want under %s", elapsed, tt.name, bound)
				}
				t.Logf("/health answered in %s (redis: %s)", elapsed, h.Dependencies.Redis.Error)
			}
		})
	}
}

// blackhole listens on a free loopback port, accepts every connection and
// never writes to it, until the test ends. It returns its address.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
