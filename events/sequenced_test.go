package events_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/ossatest"
)

// sequenced records what a hub's Sequenced hook was called with.
type sequenced struct {
	mu  sync.Mutex
	ids []int64
}

func (s *sequenced) observe(batch []platform.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range batch {
		s.ids = append(s.ids, e.ID)
	}
}

func (s *sequenced) seen() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.ids...)
}

// TestSequencedOncePerDeployment checks that of two replicas writing to
// one store, each event reaches the Sequenced hook of exactly one of them:
// what the hooks count, summed, counts every change once.
func TestSequencedOncePerDeployment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := ossatest.SQLiteAt(t, dir), ossatest.SQLiteAt(t, dir)
	bus := inmem.NewBus()
	var seenA, seenB sequenced
	ha := startHub(t, a, events.Config{Bus: bus, PollInterval: 20 * time.Millisecond, Sequenced: seenA.observe})
	hb := startHub(t, b, events.Config{Bus: bus, PollInterval: 20 * time.Millisecond, Sequenced: seenB.observe})
	subA, subB := subscribe(t, ha, "*"), subscribe(t, hb, "*")
	for i, n := range names(40) {
		if i%2 == 0 {
			register(t, a, n)
		} else {
			register(t, b, n)
		}
	}
	// A hub calls the hook before it delivers what it sequenced, so once
	// both replicas delivered every event, both hooks have been called.
	receive(t, subA, 1, 40)
	receive(t, subB, 1, 40)
	count := map[int64]int{}
	for _, id := range append(seenA.seen(), seenB.seen()...) {
		count[id]++
	}
	for id := int64(1); id <= 40; id++ {
		if count[id] != 1 {
			t.Errorf("event %d reached %d Sequenced hooks, want 1", id, count[id])
		}
	}
	if len(count) != 40 {
		t.Errorf("the hooks saw %d events, want 40", len(count))
	}
}
