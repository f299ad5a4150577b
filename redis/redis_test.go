package redis_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform/redis"
)

func TestPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, prefix, want string
	}{
		{"redis://127.0.0.1:6379", "", "ossa:0:"},
		{"redis://127.0.0.1:6379/0", "", "ossa:0:"},
		{"redis://127.0.0.1:6379/3", "", "ossa:3:"},
		{"unix:///run/redis.sock?db=5", "", "ossa:5:"},
		{"redis://127.0.0.1:6379/3", "team-a/prod:", "team-a/prod:"},
	} {
		c, err := redis.Open(tc.url, redis.WithPrefix(tc.prefix))
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		defer c.Close()
		if c.Prefix() != tc.want || c.Name("limits") != tc.want+"limits" {
			t.Errorf("%s with prefix %q: Prefix %q, Name %q; want %q", tc.url, tc.prefix, c.Prefix(), c.Name("limits"), tc.want)
		}
		if got := c.Bus(nil).Channel(); got != tc.want+"events" {
			t.Errorf("%s with prefix %q: the event channel is %q, want %q", tc.url, tc.prefix, got, tc.want+"events")
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ossa:", "ossa:0:", "team-a/prod:", "x", strings.Repeat("p", redis.MaxPrefix), "déploiement:"} {
		if err := redis.CheckPrefix(ok); err != nil {
			t.Errorf("CheckPrefix(%q) = %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                                     "empty",
		"ossa prod:":                           "spaces",
		"ossa:\t":                              "spaces",
		"ossa:\x00":                            "control",
		"ossa:\u2028":                          "spaces",
		"ossa:*":                               "glob",
		"ossa:[a]":                             "glob",
		"ossa:\xff":                            "UTF-8",
		strings.Repeat("p", redis.MaxPrefix+1): "at most 64 bytes",
	} {
		err := redis.CheckPrefix(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPrefix(%q) = %v, want an error saying %q", bad, err, want)
		}
		if _, err := redis.Open("redis://127.0.0.1:6379", redis.WithPrefix(bad)); bad != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Open with prefix %q = %v, want an error saying %q", bad, err, want)
		}
	}
}

// freeAddr is a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestPingFailsFast: with nothing listening, Ping says so at once instead
// of retrying for seconds (it took 2 s), again and again.
func TestPingFailsFast(t *testing.T) {
	t.Parallel()
	c, err := redis.Open("redis://" + freeAddr(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := c.Ping(ctx)
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatal("Ping succeeded with nothing listening")
		}
		// A generous bound: the refused dial takes well under a millisecond.
		if took > 500*time.Millisecond {
			t.Fatalf("ping %d took %v to fail: %v", i, took, err)
		}
	}
}

// TestPingBoundedByContext: a server that accepts connections and never
// answers holds Ping only as long as the caller's context.
func TestPingBoundedByContext(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // held open, never answered
		}
	}()
	c, err := redis.Open("redis://" + l.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded against a server that never answers")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Ping with a 100ms context took %v", took)
	}
}
