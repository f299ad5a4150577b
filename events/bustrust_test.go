package events_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/sqlite"
)

// The hub trusts the store, not the bus: what arrives on the bus's channel
// says only that events up to some ID exist, so that an event put on the
// channel by anything else (wrong content, an ID the store does not have)
// is never delivered and never makes the hub skip the real one.

// sharedBus is one bus of two replicas: each replica's end of it, and a
// way to put a message on it as something other than a replica.
type sharedBus struct {
	end    func(t *testing.T) platform.EventBus
	inject func(t *testing.T, batch []platform.Event)
}

// sharedBuses are the buses the tests run on: in the process, and real
// Redis (skipped without TEST_REDIS_URL).
var sharedBuses = map[string]func(t *testing.T) sharedBus{
	"Inmem": func(t *testing.T) sharedBus {
		bus := inmem.NewBus()
		return sharedBus{
			end: func(*testing.T) platform.EventBus { return bus },
			inject: func(t *testing.T, batch []platform.Event) {
				if err := bus.Publish(context.Background(), batch); err != nil {
					t.Fatal(err)
				}
			},
		}
	},
	"Redis": func(t *testing.T) sharedBus {
		url := testenv.RedisURL(t)
		prefix := "ossa-test:" + testenv.RandomName() + ":"
		open := func(t *testing.T) *redis.Client {
			c, err := redis.Open(url, redis.WithPrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		raw := open(t)
		return sharedBus{
			end: func(t *testing.T) platform.EventBus { return open(t).Bus(slog.New(slog.DiscardHandler)) },
			inject: func(t *testing.T, batch []platform.Event) {
				// A raw PUBLISH, in the bus's format, as an intruder would.
				msg, err := json.Marshal(batch)
				if err != nil {
					t.Fatal(err)
				}
				if err := raw.Publish(context.Background(), raw.Name(redis.EventChannel), msg).Err(); err != nil {
					t.Fatal(err)
				}
			},
		}
	},
}

// liveBus signals live each time its subscription (re)starts, once the hub
// has been told.
type liveBus struct {
	platform.EventBus
	live chan struct{}
}

func newLiveBus(b platform.EventBus) *liveBus {
	return &liveBus{EventBus: b, live: make(chan struct{}, 10)}
}

func (b *liveBus) Subscribe(ctx context.Context, fn func([]platform.Event)) error {
	return b.EventBus.Subscribe(ctx, func(batch []platform.Event) {
		fn(batch)
		if batch == nil {
			b.live <- struct{}{}
		}
	})
}

func (b *liveBus) await(t *testing.T) {
	t.Helper()
	select {
	case <-b.live:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub's bus subscription did not go live")
	}
}

// forged is an event no replica wrote.
func forged(id int64) platform.Event {
	return platform.Event{ID: id, Type: platform.EventAgentRegistered, Time: time.Now().UTC(), Agent: "intruder",
		Data: json.RawMessage(`{"id":"x","name":"intruder","namespace":"default"}`)}
}

// ignored waits until h counted n announced events the store did not have,
// failing if s is handed any event meanwhile.
func ignored(t *testing.T, h *events.Hub, s *events.Subscriber, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Metrics().Unconfirmed < n {
		if s != nil {
			if got := s.Take(nil); len(got) > 0 {
				t.Fatalf("delivered event %d (%s: %s), which the store does not have", got[0].Event.ID, got[0].Event.Type, got[0].Event.Data)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub counted %d unconfirmed events, want %d", h.Metrics().Unconfirmed, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.Metrics().Unconfirmed; got != n {
		t.Fatalf("hub counted %d unconfirmed events, want %d", got, n)
	}
	if s != nil {
		if got := s.Take(nil); len(got) > 0 {
			t.Fatalf("delivered event %d (%s: %s), which the store does not have", got[0].Event.ID, got[0].Event.Type, got[0].Event.Data)
		}
	}
}

// replicas starts two hubs on one SQLite database and one bus: A, where
// the changes are made, and B, which only the bus tells about them (its
// poll is an hour away). It returns B once its subscription is live.
func replicas(t *testing.T, bus sharedBus) (a *sqlite.DB, hubB *events.Hub) {
	t.Helper()
	dir := t.TempDir()
	a, b := ossatest.SQLiteAt(t, dir), ossatest.SQLiteAt(t, dir)
	live := newLiveBus(bus.end(t))
	hubB = startHub(t, b, events.Config{Bus: live, PollInterval: time.Hour})
	live.await(t)
	startHub(t, a, events.Config{Bus: bus.end(t), PollInterval: time.Hour})
	return a, hubB
}

func TestBusInjectedNextEventIsNotDelivered(t *testing.T) {
	for name, newBus := range sharedBuses {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			a, hubB := replicas(t, bus)
			sub := subscribe(t, hubB, "*")

			// Event 1 does not exist yet: announced, it is not delivered.
			bus.inject(t, []platform.Event{forged(1)})
			ignored(t, hubB, sub, 1)

			// The real event 1 is delivered once committed, and then 2.
			register(t, a, "real", "second")
			got := receive(t, sub, 1, 2)
			if got[0].Agent != "real" || got[1].Agent != "second" {
				t.Fatalf("delivered %q and %q, want real and second", got[0].Agent, got[1].Agent)
			}
			if m := hubB.Metrics(); m.Unconfirmed != 1 || m.Last != 2 {
				t.Fatalf("metrics %+v", m)
			}
		})
	}
}

func TestBusInjectedFutureEventNeitherBlocksNorSkips(t *testing.T) {
	for name, newBus := range sharedBuses {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			a, hubB := replicas(t, bus)
			sub := subscribe(t, hubB, "*")
			register(t, a, "one", "two")
			receive(t, sub, 1, 2)

			// A claim far ahead: nothing is delivered, and the hub stays
			// at the store's position...
			bus.inject(t, []platform.Event{forged(1_000_000), forged(1_000_001)})
			ignored(t, hubB, sub, 2)
			if last := hubB.Metrics().Last; last != 2 {
				t.Fatalf("the hub moved to %d on a forged announcement", last)
			}
			// ...so the next real events come, in order, once each.
			register(t, a, "three", "four", "five")
			got := receive(t, sub, 3, 3)
			if got[0].Agent != "three" || got[2].Agent != "five" {
				t.Fatalf("delivered %q..%q", got[0].Agent, got[2].Agent)
			}
		})
	}
}

// TestBusForgedContentIsNotDelivered: the event of an announced ID is the
// store's, whatever the message carried.
func TestBusForgedContentIsNotDelivered(t *testing.T) {
	for name, newBus := range sharedBuses {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bus := newBus(t)
			dir := t.TempDir()
			a, b := ossatest.SQLiteAt(t, dir), ossatest.SQLiteAt(t, dir)
			live := newLiveBus(bus.end(t))
			hubB := startHub(t, b, events.Config{Bus: live, PollInterval: time.Hour})
			live.await(t)
			sub := subscribe(t, hubB, "*")
			ctx := context.Background()
			// Event 1 comes the honest way, so that B is idle after it.
			register(t, a, "first")
			seq, err := a.SequenceEvents(ctx)
			if err != nil || len(seq) != 1 {
				t.Fatalf("sequenced %v, %v", seq, err)
			}
			if err := bus.end(t).Publish(ctx, seq); err != nil {
				t.Fatal(err)
			}
			receive(t, sub, 1, 1)
			// Event 2 is committed and sequenced (by a replica that dies
			// before publishing it); a forged event 2 is announced.
			register(t, a, "real")
			if seq, err = a.SequenceEvents(ctx); err != nil || len(seq) != 1 {
				t.Fatalf("sequenced %v, %v", seq, err)
			}
			bus.inject(t, []platform.Event{forged(2)})
			got := receive(t, sub, 2, 1)
			if !strings.Contains(string(got[0].Data), `"real"`) {
				t.Fatalf("delivered %s, want the stored event", got[0].Data)
			}
			if m := hubB.Metrics(); m.Unconfirmed != 0 {
				t.Fatalf("metrics %+v: the ID was in the store", m)
			}
		})
	}
}

// countingStore is a real store that counts its ListEvents calls and can
// hold the next one until released.
type countingStore struct {
	*sqlite.DB
	reads atomic.Int64
	mu    sync.Mutex
	gate  chan struct{}
}

func (s *countingStore) ListEvents(ctx context.Context, q platform.EventQuery) ([]platform.Event, error) {
	s.reads.Add(1)
	s.mu.Lock()
	gate := s.gate
	s.gate = nil
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.DB.ListEvents(ctx, q)
}

// TestBusAnnouncementsAreOneRead: the announcements that wait while the hub
// reads the store are read together, not one read each.
func TestBusAnnouncementsAreOneRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := ossatest.SQLiteAt(t, dir), ossatest.SQLiteAt(t, dir)
	store := &countingStore{DB: b}
	bus := inmem.NewBus()
	live := newLiveBus(bus)
	h := events.New(events.Config{Store: store, Bus: live, PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	live.await(t)
	// The read of the subscription's start.
	for deadline := time.Now().Add(10 * time.Second); store.reads.Load() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not read the store when its subscription went live")
		}
	}
	register(t, a, names(100)...)
	seq, err := a.SequenceEvents(context.Background())
	if err != nil || len(seq) != 100 {
		t.Fatalf("sequenced %d, %v", len(seq), err)
	}

	// The first announcement's read waits until all 100 are announced.
	release := make(chan struct{})
	store.mu.Lock()
	store.gate = release
	store.mu.Unlock()
	before := store.reads.Load()
	for i := range seq {
		if err := bus.Publish(context.Background(), seq[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	waitPosition(t, h, 100)
	if reads := store.reads.Load() - before; reads < 1 || reads > 2 {
		t.Fatalf("100 announcements took %d reads of the store, want 1 or 2", reads)
	}
	if m := h.Metrics(); m.Unconfirmed != 0 {
		t.Fatalf("metrics %+v", m)
	}
}

// warnings is a slog handler that counts warnings.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}

// TestBusUnconfirmedLoggedOnce: forged announcements are counted each, and
// logged once per interval, not once each.
func TestBusUnconfirmedLoggedOnce(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	bus := inmem.NewBus()
	live := newLiveBus(bus)
	log := &warnings{}
	h := events.New(events.Config{Store: db, Bus: live, PollInterval: time.Hour, Logger: slog.New(log)})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	live.await(t)
	for i := range int64(5) {
		if err := bus.Publish(context.Background(), []platform.Event{forged(10 + i)}); err != nil {
			t.Fatal(err)
		}
		ignored(t, h, nil, i+1)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.msgs) != 1 || !strings.Contains(log.msgs[0], "OSSA_REDIS_PREFIX") {
		t.Fatalf("warnings for 5 forged announcements: %q", log.msgs)
	}
}
