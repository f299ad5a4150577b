package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/sqlite"
	"github.com/ossa-platform/platform/storetest"
)

func startHub(t *testing.T, db *sqlite.DB, cfg events.Config) *events.Hub {
	t.Helper()
	cfg.Store = db
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	h := events.New(cfg)
	db.OnCommit(h.Notify)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func subscribe(t *testing.T, h *events.Hub, channels string) *events.Subscriber {
	t.Helper()
	s, err := h.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	chans, err := platform.ParseChannels(channels)
	if err != nil {
		t.Fatal(err)
	}
	s.Subscribe(channels, chans)
	return s
}

func register(t *testing.T, db *sqlite.DB, names ...string) {
	t.Helper()
	for _, n := range names {
		a := storetest.NewAgent(n)
		a.Normalize()
		if err := db.CreateAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// receive takes n deliveries from s and checks that they are the events
// first..first+n-1, each once, in order, then that nothing more comes.
func receive(t *testing.T, s *events.Subscriber, first int64, n int) []*platform.Event {
	t.Helper()
	var got []*platform.Event
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case <-s.Ready():
			for _, d := range s.Take(nil) {
				if want := first + int64(len(got)); d.Event.ID != want {
					t.Fatalf("delivery %d is event %d (%s), want %d", len(got), d.Event.ID, d.Event.Type, want)
				}
				got = append(got, d.Event)
			}
		case <-s.Done():
			t.Fatalf("subscriber ended: %v", s.Err())
		case <-timeout:
			t.Fatalf("received %d events, want %d", len(got), n)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if extra := s.Take(nil); len(extra) > 0 {
		t.Fatalf("extra delivery of event %d (%s)", extra[0].Event.ID, extra[0].Event.Type)
	}
	return got
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("agent-%02d", i)
	}
	return out
}

func TestDeliversLocalChangesInOrder(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	h := startHub(t, db, events.Config{PollInterval: time.Hour}) // only the commit hook wakes it
	all := subscribe(t, h, "*")
	one := subscribe(t, h, "agent:agent-03")
	register(t, db, names(20)...)
	got := receive(t, all, 1, 20)
	for i, e := range got {
		if e.Type != platform.EventAgentRegistered || e.Agent != names(20)[i] {
			t.Fatalf("event %d = %s of %q", e.ID, e.Type, e.Agent)
		}
	}
	if only := receive(t, one, 4, 1); only[0].Agent != "agent-03" {
		t.Fatalf("agent:agent-03 got %+v", only[0])
	}
}

// lossyBus loses every other batch, as pub/sub loses what is published
// while a subscriber reconnects.
type lossyBus struct {
	*inmem.Bus
	mu sync.Mutex
	n  int
}

func (b *lossyBus) Publish(ctx context.Context, es []platform.Event) error {
	b.mu.Lock()
	b.n++
	lose := b.n%2 == 0
	b.mu.Unlock()
	if lose {
		return nil
	}
	return b.Bus.Publish(ctx, es)
}

func TestReplicasSeeEachOthersEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		bus  func() platform.EventBus
		poll time.Duration
	}{
		{"Bus", func() platform.EventBus { return inmem.NewBus() }, time.Hour},
		// What the bus loses, the next batch's gap or the poll finds.
		{"LossyBus", func() platform.EventBus { return &lossyBus{Bus: inmem.NewBus()} }, 200 * time.Millisecond},
		{"NoBus", func() platform.EventBus { return nil }, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			a, b := ossatest.SQLiteAt(t, dir), ossatest.SQLiteAt(t, dir)
			bus := tc.bus()
			startHub(t, a, events.Config{Bus: bus, PollInterval: tc.poll})
			hb := startHub(t, b, events.Config{Bus: bus, PollInterval: tc.poll})
			sub := subscribe(t, hb, "agent-events")
			// Written on A in many small commits: B sees each event once,
			// in order, through the bus or, for what the bus lost, the
			// store.
			for _, n := range names(30) {
				register(t, a, n)
				if tc.name == "LossyBus" {
					time.Sleep(time.Millisecond) // one batch per commit
				}
			}
			receive(t, sub, 1, 30)
		})
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	h := startHub(t, db, events.Config{Buffer: 4})
	slow := subscribe(t, h, "*")
	fast := subscribe(t, h, "*")
	// The fast one takes each event before the next is written, so it is
	// never more than one behind; the slow one never takes.
	var got []*platform.Event
	for i, n := range names(10) {
		register(t, db, n)
		deadline := time.After(10 * time.Second)
		for len(got) < i+1 {
			select {
			case <-fast.Ready():
				for _, d := range fast.Take(nil) {
					got = append(got, d.Event)
				}
			case <-fast.Done():
				t.Fatalf("the fast subscriber was dropped: %v", fast.Err())
			case <-deadline:
				t.Fatalf("the fast subscriber got %d events, want %d", len(got), i+1)
			}
		}
	}
	if len(got) != 10 {
		t.Fatalf("the fast subscriber got %d events, want 10", len(got))
	}
	select {
	case <-slow.Done():
		if slow.Err() != events.ErrSlow {
			t.Fatalf("slow subscriber ended with %v", slow.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
	if m := h.Metrics(); m.Dropped != 1 || m.Subscribers != 1 {
		t.Fatalf("metrics %+v", m)
	}
}

func TestStreamReplaysThenFollows(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	h := startHub(t, db, events.Config{})
	register(t, db, names(5)...)
	waitPosition(t, h, 5)
	for _, tc := range []struct {
		since int64
		want  []int64
	}{
		{-1, []int64{6, 7}},
		{0, []int64{1, 2, 3, 4, 5, 6, 7}},
		{3, []int64{4, 5, 6, 7}},
		{6, []int64{7}},
	} {
		s, err := h.NewSubscriber()
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int64, 10)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- s.Stream(ctx, "x", nil, tc.since, func(e *platform.Event, _ []byte) error { got <- e.ID; return nil },
				func() error { return nil }, func(e *platform.Event) bool { return e.ID == 7 })
		}()
		time.Sleep(50 * time.Millisecond) // subscribed before the next changes
		if tc.since == -1 {
			register(t, db, "six", "seven")
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		cancel()
		s.Close()
		close(got)
		var ids []int64
		for id := range got {
			ids = append(ids, id)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("since %d: got %v, want %v", tc.since, ids, tc.want)
		}
	}
}

func waitPosition(t *testing.T, h *events.Hub, id int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Metrics().Last < id {
		if time.Now().After(deadline) {
			t.Fatalf("hub at %d, want %d", h.Metrics().Last, id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseEndsSubscribers(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	h := startHub(t, db, events.Config{})
	s := subscribe(t, h, "*")
	h.Close()
	<-s.Done()
	if s.Err() != events.ErrClosed {
		t.Fatalf("Err = %v", s.Err())
	}
	if _, err := h.NewSubscriber(); err != events.ErrClosed {
		t.Fatalf("NewSubscriber after Close = %v", err)
	}
}
