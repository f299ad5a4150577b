package events

import (
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// ready reports whether s was woken, and takes the signal.
func ready(s *Subscriber) bool {
	select {
	case <-s.Ready():
		return true
	default:
		return false
	}
}

// The coalescing of wake-ups, step by step, without the pump: the hub is
// not started and its ticks are called by hand.
func TestWakeUpsAreCoalescedPerPhase(t *testing.T) {
	h := New(Config{Coalesce: 20 * time.Millisecond})
	if len(h.phases) != maxPhases {
		t.Fatalf("%d phases, want %d", len(h.phases), maxPhases)
	}
	agents := []platform.Channel{{Stream: "agent"}}
	subs := make([]*Subscriber, 2*maxPhases)
	for i := range subs {
		s, err := h.NewSubscriber()
		if err != nil {
			t.Fatal(err)
		}
		if s.phase != i%maxPhases {
			t.Fatalf("subscriber %d has phase %d, want %d: phases are handed out in turn", i, s.phase, i%maxPhases)
		}
		s.Subscribe("a", agents)
		subs[i] = s
	}
	runs, err := h.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	runs.Subscribe("r", []platform.Channel{{Stream: "run"}})

	id := int64(0)
	publish := func() {
		id++
		h.publishLocal([]platform.Event{{ID: id, Type: platform.EventAgentUpdated, Agent: "x"}})
	}
	// The first event after a quiet spell wakes every subscriber it
	// matches at once.
	publish()
	for i, s := range subs {
		if !ready(s) {
			t.Fatalf("subscriber %d was not woken by the first event", i)
		}
	}
	if ready(runs) {
		t.Fatal("a subscriber to another channel was woken")
	}
	// More events in the same period wake no one: each waits for its
	// phase's next tick.
	publish()
	publish()
	for i, s := range subs {
		if ready(s) {
			t.Fatalf("subscriber %d was woken again within its period", i)
		}
	}
	// Each tick wakes the subscribers of one phase, in turn, and the ticks
	// go on while events flow.
	for tick := 1; tick <= maxPhases; tick++ {
		if !h.nextTick() {
			t.Fatalf("tick %d says the ticks may stop while events flow", tick)
		}
		phase := tick % maxPhases
		for i, s := range subs {
			if got, want := ready(s), i%maxPhases == phase; got != want {
				t.Fatalf("after tick %d (phase %d), subscriber %d (phase %d) woken: %v, want %v", tick, phase, i, s.phase, got, want)
			}
		}
	}
	// Woken by its tick, a subscriber again waits for the next one.
	publish()
	for i, s := range subs {
		if ready(s) {
			t.Fatalf("subscriber %d was woken by an event in the period it was just woken in", i)
		}
	}
	// After a period without events the ticks may stop, and the next
	// event goes out at once again.
	stopped := false
	for range 2 * maxPhases {
		if !h.nextTick() {
			stopped = true
			break
		}
	}
	if !stopped {
		t.Fatal("the ticks go on after a period without events")
	}
	for _, s := range subs {
		ready(s) // the wake-ups the last event was deferred to
	}
	publish()
	for i, s := range subs {
		if !ready(s) {
			t.Fatalf("subscriber %d was not woken at once after a quiet period", i)
		}
	}
	// Every subscriber takes every event, once.
	for i, s := range subs {
		if got := s.Take(nil); len(got) != int(id) {
			t.Fatalf("subscriber %d took %d deliveries, want %d", i, len(got), id)
		}
	}
}

// A short period has fewer phases, each at least a millisecond.
func TestPhasesOfAShortPeriod(t *testing.T) {
	for _, tc := range []struct {
		coalesce time.Duration
		phases   int
	}{{time.Millisecond, 1}, {500 * time.Microsecond, 1}, {4 * time.Millisecond, 4}, {time.Second, maxPhases}} {
		if n := len(New(Config{Coalesce: tc.coalesce}).phases); n != tc.phases {
			t.Errorf("Coalesce %v: %d phases, want %d", tc.coalesce, n, tc.phases)
		}
	}
}
