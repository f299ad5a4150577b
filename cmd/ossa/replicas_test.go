package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/testenv"
)

// The replica tests run two gateway processes on one PostgreSQL and one
// Redis and watch, on replica B, what happens on replica A.

// wsWatch is a WebSocket client of a gateway's /ws.
type wsWatch struct {
	c      *websocket.Conn
	events chan *platform.Event
}

// watch connects to gw's /ws, subscribes to channel (with extra members
// added to the subscribe message, such as since), and collects events.
func watch(t *testing.T, gw, channel string, extra ...string) *wsWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	w := &wsWatch{c: c, events: make(chan *platform.Event, 10000)}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","channel":"`+channel+`"`+strings.Join(extra, "")+`}`)); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan error, 1)
	go func() {
		defer close(w.events)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				subscribed <- err
				return
			}
			var m ohttp.WSMessage
			if err := json.Unmarshal(b, &m); err != nil {
				subscribed <- err
				return
			}
			switch m.Type {
			case "subscribed":
				subscribed <- nil
			case "event":
				w.events <- m.Event
			default:
				subscribed <- fmt.Errorf("unexpected message %s", b)
			}
		}
	}()
	if err := <-subscribed; err != nil {
		t.Fatal(err)
	}
	return w
}

// until collects events until done accepts one or the timeout passes, and
// checks that their IDs follow one another with no gap and no repeat.
func (w *wsWatch) until(t *testing.T, timeout time.Duration, done func(*platform.Event) bool) []*platform.Event {
	t.Helper()
	var got []*platform.Event
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-w.events:
			if !ok {
				t.Fatalf("the connection ended after %s", eventTypes(got))
			}
			if len(got) > 0 && e.ID != got[len(got)-1].ID+1 {
				t.Fatalf("event %d (%s) came after %d: %s", e.ID, e.Type, got[len(got)-1].ID, eventTypes(got))
			}
			got = append(got, e)
			if done(e) {
				return got
			}
		case <-deadline:
			t.Fatalf("after %s: %s", timeout, eventTypes(got))
		}
	}
}

// quiet checks that no event arrives for d.
func (w *wsWatch) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-w.events:
		t.Fatalf("unexpected event %d (%s)", e.ID, e.Type)
	case <-time.After(d):
	}
}

// dataField is one string member of an event's data.
func dataField(e *platform.Event, name string) string {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	s, _ := d[name].(string)
	return s
}

func eventTypes(es []*platform.Event) string {
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprintf("%d:%s", e.ID, e.Type))
	}
	return strings.Join(s, " ")
}

func registerAgent(t *testing.T, gw, name, endpoint string) {
	t.Helper()
	call(t, "POST", gw+"/api/v1/agents", fmt.Sprintf(`{"name":%q,"type":"worker","capabilities":["add"],"endpoint":%q}`, name, endpoint), 201)
}

func TestEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, _, pg := testenv.PostgresSchema(t)
	redisURL := testenv.RedisURL(t)
	prefix := "ossa-test:" + testenv.RandomName() + ":"
	// With a poll of an hour, what one replica sees of the other's changes
	// comes through Redis, or from a gap that Redis revealed.
	env := []string{"POSTGRES_URL=" + pg, "REDIS_URL=" + redisURL, "OSSA_REDIS_PREFIX=" + prefix, "OSSA_EVENT_POLL_INTERVAL=1h"}
	a := startGateway(t, env...)
	b := startGateway(t, env...)
	agent := newSlowAgent(t, 10*time.Millisecond)
	onB := watch(t, b.url, "*")

	// Agents registered and runs submitted on A; B shares the runs' work.
	ids := setupChain(t, a.url, agent.URL, 6)
	registerAgent(t, a.url, "spare", agent.URL)
	terminal := map[string]bool{}
	got := onB.until(t, 60*time.Second, func(e *platform.Event) bool {
		if e.Terminal() {
			terminal[dataField(e, "run_id")] = true
		}
		return len(terminal) == len(ids)
	})
	onB.quiet(t, 300*time.Millisecond)

	// Exactly the stream as stored, in order: what A replays from its
	// database from the first event on.
	ref := watchReplay(t, a.url, got[len(got)-1].ID)
	if eventTypes(got) != eventTypes(ref[got[0].ID-1:]) {
		t.Fatalf("B saw\n%s\nthe database holds\n%s", eventTypes(got), eventTypes(ref))
	}
	counts := map[string]int{}
	for _, e := range got {
		counts[e.Type]++
	}
	if counts[platform.EventAgentRegistered] < 1 || counts[platform.EventRunQueued] != 6 || counts[platform.EventRunStarted] != 6 ||
		counts[platform.EventStepSucceeded] != 18 || counts[platform.EventRunSucceeded] != 6 {
		t.Fatalf("event counts %v", counts)
	}
	waitRuns(t, a.url, ids, 30*time.Second)
}

// watchReplay reads, over gw's /ws with since 0, every event up to last.
func watchReplay(t *testing.T, gw string, last int64) []*platform.Event {
	t.Helper()
	w := watch(t, gw, "*", `,"since":0`)
	return w.until(t, 10*time.Second, func(e *platform.Event) bool { return e.ID >= last })
}

// redisServer is a redis-server process of the test's own, on a free port,
// that the test can stop and start again.
type redisServer struct {
	port string
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.CI() {
			t.Fatal("redis-server is not on PATH")
		}
		t.Skip("redis-server is not on PATH")
	}
	if port == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(l.Addr().String())
		l.Close()
	}
	r := &redisServer{port: port, cmd: exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

func health(t *testing.T, gw string) string {
	t.Helper()
	h := call(t, "GET", gw+"/health", "", 200)
	return h["status"].(string)
}

func TestEventsThroughRedisOutage(t *testing.T) {
	t.Parallel()
	_, _, pg := testenv.PostgresSchema(t)
	redis := startRedis(t, "")
	env := []string{"POSTGRES_URL=" + pg, "REDIS_URL=redis://127.0.0.1:" + redis.port, "OSSA_EVENT_POLL_INTERVAL=1h"}
	a := startGateway(t, env...)
	b := startGateway(t, env...)
	onB := watch(t, b.url, "agent-events")
	name := func(e *platform.Event) string { return dataField(e, "name") }

	registerAgent(t, a.url, "before", "http://127.0.0.1:1")
	first := onB.until(t, 10*time.Second, func(e *platform.Event) bool { return name(e) == "before" })

	// Redis goes away: both replicas keep serving, degraded; B hears
	// nothing of A (its poll is an hour away).
	redis.stop()
	for _, gw := range []string{a.url, b.url} {
		if s := health(t, gw); s != "degraded" {
			t.Fatalf("health with Redis down = %q", s)
		}
	}
	registerAgent(t, a.url, "during-1", "http://127.0.0.1:1")
	registerAgent(t, a.url, "during-2", "http://127.0.0.1:1")
	onB.quiet(t, 500*time.Millisecond)

	// Redis returns: B subscribes again, fills the gap from the database,
	// and live fan-out goes on, each event once and in order.
	startRedis(t, redis.port)
	gap := onB.until(t, 20*time.Second, func(e *platform.Event) bool { return name(e) == "during-2" })
	registerAgent(t, a.url, "after", "http://127.0.0.1:1")
	live := onB.until(t, 10*time.Second, func(e *platform.Event) bool { return name(e) == "after" })
	all := append(append(first, gap...), live...)
	var names []string
	for i, e := range all {
		if i > 0 && e.ID != all[i-1].ID+1 {
			t.Fatalf("ids not consecutive: %s", eventTypes(all))
		}
		names = append(names, name(e))
	}
	if got := strings.Join(names, ","); got != "before,during-1,during-2,after" {
		t.Fatalf("B saw %s", got)
	}
	for deadline := time.Now().Add(10 * time.Second); health(t, b.url) != "healthy"; {
		if time.Now().After(deadline) {
			t.Fatal("B stays degraded after Redis returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
