package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// RunBus is the conformance suite every EventBus passes. newBus returns a
// bus on a channel of its own; two calls in one test share a channel when
// given the same key, as two replicas of one deployment share one Redis,
// and never when given different keys, as two deployments do.
func RunBus(t *testing.T, newBus func(t *testing.T, key string) platform.EventBus) {
	t.Run("FanOutInOrder", func(t *testing.T) {
		t.Parallel()
		key := t.Name()
		pub := newBus(t, key)
		a, b := listen(t, newBus(t, key)), listen(t, newBus(t, key))
		var want []int64
		for i := range 50 {
			batch := []platform.Event{busEvent(int64(2*i + 1)), busEvent(int64(2*i + 2))}
			if err := pub.Publish(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			want = append(want, batch[0].ID, batch[1].ID)
		}
		for name, l := range map[string]*listener{"a": a, "b": b} {
			got := l.wait(t, len(want))
			for i, e := range got {
				if e.ID != want[i] {
					t.Fatalf("subscriber %s got id %d at %d, want %d", name, e.ID, i, want[i])
				}
			}
			first := got[0]
			if first.Type != "agent.registered" || first.Agent != "scout" || first.RunID != "0190b1b2-0000-7000-8000-000000000001" ||
				first.Namespace != "team-a" ||
				!first.Time.Equal(time.Date(2026, 11, 26, 1, 2, 3, 4000, time.UTC)) || !sameJSON(first.Data, json.RawMessage(`{"n":1}`)) {
				t.Fatalf("subscriber %s got %+v", name, first)
			}
		}
	})

	t.Run("KeysDoNotMeet", func(t *testing.T) {
		// Buses of different keys are different deployments: what is
		// published on one never reaches the other. The marker published
		// on b after the event on a shows that b's subscriber would have
		// had the event by then.
		t.Parallel()
		a, b := newBus(t, t.Name()+"/a"), newBus(t, t.Name()+"/b")
		onB := listen(t, newBus(t, t.Name()+"/b"))
		listen(t, newBus(t, t.Name()+"/a"))
		if err := a.Publish(context.Background(), []platform.Event{busEvent(7)}); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(context.Background(), []platform.Event{busEvent(8)}); err != nil {
			t.Fatal(err)
		}
		if got := onB.wait(t, 1); len(got) != 1 || got[0].ID != 8 {
			t.Fatalf("the subscriber of b got %v, want only event 8", ids(got))
		}
	})

	t.Run("UnsubscribesWhenDone", func(t *testing.T) {
		t.Parallel()
		bus := newBus(t, t.Name())
		ctx, cancel := context.WithCancel(context.Background())
		returned := make(chan error, 1)
		live := make(chan struct{}, 1)
		go func() {
			returned <- bus.Subscribe(ctx, func(b []platform.Event) {
				if b == nil {
					select {
					case live <- struct{}{}:
					default:
					}
				}
			})
		}()
		select {
		case <-live:
		case <-time.After(10 * time.Second):
			t.Fatal("the subscription never went live")
		}
		cancel()
		select {
		case err := <-returned:
			if err != nil {
				t.Fatalf("Subscribe returned %v after its context ended", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Subscribe did not return after its context ended")
		}
	})
}

func ids(es []platform.Event) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func busEvent(id int64) platform.Event {
	return platform.Event{ID: id, Type: "agent.registered", Time: time.Date(2026, 11, 26, 1, 2, 3, 4000, time.UTC),
		Agent: "scout", RunID: "0190b1b2-0000-7000-8000-000000000001", Namespace: "team-a",
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, id))}
}

type listener struct {
	mu     sync.Mutex
	events []platform.Event
	more   chan struct{}
}

// listen subscribes to bus until the test ends and returns once live.
func listen(t *testing.T, bus platform.EventBus) *listener {
	t.Helper()
	l := &listener{more: make(chan struct{}, 1)}
	live := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		_ = bus.Subscribe(ctx, func(b []platform.Event) {
			if b == nil {
				once.Do(func() { close(live) })
				return
			}
			l.mu.Lock()
			l.events = append(l.events, b...)
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
		})
	}()
	select {
	case <-live:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription never went live")
	}
	return l
}

func (l *listener) wait(t *testing.T, n int) []platform.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		got := append([]platform.Event(nil), l.events...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-l.more:
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(got), n)
		}
	}
}
