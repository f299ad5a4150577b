package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/redis"
)

// logRecorder is a slog handler that keeps every record, for tests that
// check what a bus logs.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
	more    chan struct{}
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder { return &logRecorder{more: make(chan struct{}, 1)} }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool { lr.attrs[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
	return nil
}

// count is how many records of level have a message containing msg.
func (r *logRecorder) count(level slog.Level, msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.level == level && strings.Contains(rec.msg, msg) {
			n++
		}
	}
	return n
}

// at is the records of level.
func (r *logRecorder) at(level slog.Level) []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRecord
	for _, rec := range r.records {
		if rec.level == level {
			out = append(out, rec)
		}
	}
	return out
}

// waitFor waits until n records of level have a message containing msg.
func (r *logRecorder) waitFor(t *testing.T, level slog.Level, msg string, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for r.count(level, msg) < n {
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("%d %s records %q, want %d; the log:\n%s", r.count(level, msg), level, msg, n, r)
		}
	}
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, rec := range r.records {
		fmt.Fprintf(&b, "%s %s %v\n", rec.level, rec.msg, rec.attrs)
	}
	return b.String()
}

// subscription runs bus.Subscribe until the test ends, counting the times
// it went live on lives.
func subscription(t *testing.T, bus platform.EventBus) (lives <-chan struct{}, batches <-chan []platform.Event) {
	t.Helper()
	live, got := make(chan struct{}, 100), make(chan []platform.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bus.Subscribe(ctx, func(b []platform.Event) {
			if b == nil {
				live <- struct{}{}
				return
			}
			got <- b
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Subscribe returned %v", err)
		}
	})
	return live, got
}

// TestBusLogsOutageOnce: against an address where nothing listens, the
// subscription fails again and again; that is one warning, with the error,
// and a debug record per retry.
func TestBusLogsOutageOnce(t *testing.T) {
	t.Parallel()
	c, err := redis.Open("redis://" + freeAddr(t) + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log := newLogRecorder()
	bus := c.Bus(slog.New(log))
	subscription(t, bus)
	log.waitFor(t, slog.LevelDebug, "redis event subscription still down", 4)
	warns := log.at(slog.LevelWarn)
	if len(warns) != 1 || !strings.Contains(warns[0].msg, "redis event subscription down") || warns[0].attrs["error"] == "" {
		t.Fatalf("after 5 failed subscriptions, warnings:\n%s", log)
	}

	// Publishing fails too: one warning for the first failure, debug after.
	for range 5 {
		if err := bus.Publish(context.Background(), []platform.Event{{ID: 1, Type: "agent.registered"}}); err == nil {
			t.Fatal("Publish succeeded with nothing listening")
		}
	}
	if n := log.count(slog.LevelWarn, "publishing events to redis failed"); n != 1 {
		t.Fatalf("%d publish warnings for 5 failed publishes:\n%s", n, log)
	}
	if n := log.count(slog.LevelDebug, "publishing events to redis still fails"); n != 4 {
		t.Fatalf("%d publish debug records for 4 further failures:\n%s", n, log)
	}
	if n := len(log.at(slog.LevelError)); n != 0 {
		t.Fatalf("errors logged:\n%s", log)
	}
}

// redisServer is a redis-server process of the test's own on a free port,
// which the test stops and starts again.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

// startRedisServer starts redis-server on addr (a free port when empty);
// without redis-server on PATH the test skips, or fails in CI.
func startRedisServer(t *testing.T, addr string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.CI() {
			t.Fatal("redis-server is not on PATH")
		}
		t.Skip("redis-server is not on PATH")
	}
	if addr == "" {
		addr = freeAddr(t)
	}
	_, port, _ := net.SplitHostPort(addr)
	s := &redisServer{addr: addr, cmd: exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
	}
}

func (s *redisServer) stop() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// TestBusLogsRestart: a real Redis stops and comes back. The bus warns
// once that the subscription broke and once that publishing failed,
// retries quietly, says at info that each works again, and goes on
// carrying events.
func TestBusLogsRestart(t *testing.T) {
	t.Parallel()
	server := startRedisServer(t, "")
	c, err := redis.Open("redis://" + server.addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log := newLogRecorder()
	bus := c.Bus(slog.New(log))
	lives, batches := subscription(t, bus)
	awaitLive(t, lives)
	ctx := context.Background()
	publish := func(id int64) error { return bus.Publish(ctx, []platform.Event{{ID: id, Type: "agent.registered"}}) }
	if err := publish(1); err != nil {
		t.Fatal(err)
	}
	awaitBatch(t, batches, 1)

	server.stop()
	log.waitFor(t, slog.LevelWarn, "redis event subscription down", 1)
	log.waitFor(t, slog.LevelDebug, "redis event subscription still down", 3)
	for id := range int64(3) {
		if err := publish(10 + id); err == nil {
			t.Fatal("Publish succeeded with Redis stopped")
		}
	}

	startRedisServer(t, server.addr)
	awaitLive(t, lives)
	log.waitFor(t, slog.LevelInfo, "redis event subscription live again", 1)
	// The first publishes may still find the pool's dial breaker open.
	for deadline := time.Now().Add(20 * time.Second); publish(2) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("publishing does not work again after Redis came back")
		}
	}
	awaitBatch(t, batches, 2)
	if n := log.count(slog.LevelInfo, "publishing events to redis works again"); n != 1 {
		t.Fatalf("%d publish recoveries logged:\n%s", n, log)
	}
	warns := log.at(slog.LevelWarn)
	if len(warns) != 2 || log.count(slog.LevelWarn, "redis event subscription down") != 1 ||
		log.count(slog.LevelWarn, "publishing events to redis failed") != 1 {
		t.Fatalf("want one warning for the subscription and one for publishing:\n%s", log)
	}
	if n := len(log.at(slog.LevelError)); n != 0 {
		t.Fatalf("errors logged:\n%s", log)
	}
}

func awaitLive(t *testing.T, lives <-chan struct{}) {
	t.Helper()
	select {
	case <-lives:
	case <-time.After(20 * time.Second):
		t.Fatal("the subscription did not go live")
	}
}

// awaitBatch waits for the batch of event id, skipping others.
func awaitBatch(t *testing.T, batches <-chan []platform.Event, id int64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case b := <-batches:
			if len(b) == 1 && b[0].ID == id {
				return
			}
		case <-deadline:
			t.Fatalf("event %d did not come", id)
		}
	}
}
