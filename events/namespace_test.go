package events_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/events"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/sqlite"
	"github.com/ossa-platform/platform/storetest"
)

// registerIn registers one agent in each namespace given, in order.
func registerIn(t *testing.T, db *sqlite.DB, namespaces ...string) {
	t.Helper()
	for i, ns := range namespaces {
		a := storetest.NewAgent(fmt.Sprintf("agent-%02d", i))
		a.Namespace = ns
		a.Normalize()
		if err := db.CreateAgent(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

// namespaced returns a subscriber to every channel, limited to namespaces.
func namespaced(t *testing.T, h *events.Hub, namespaces ...string) *events.Subscriber {
	t.Helper()
	s, err := h.NewSubscriber(namespaces...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.Subscribe("*", nil)
	return s
}

func deliveredIDs(ds []events.Delivery) []int64 {
	var ids []int64
	for _, d := range ds {
		ids = append(ids, d.Event.ID)
	}
	return ids
}

// TestSubscriberNamespaces: a subscriber made for some namespaces takes
// only their events, live and replayed; one made for none takes all.
func TestSubscriberNamespaces(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	h := startHub(t, db, events.Config{PollInterval: time.Hour})
	const team = "team-a"
	all := namespaced(t, h)
	teamOnly := namespaced(t, h, team)
	defaultOnly := namespaced(t, h, platform.DefaultNamespace)
	both := namespaced(t, h, team, platform.DefaultNamespace)
	nobody := namespaced(t, h, "nobody")
	registerIn(t, db, platform.DefaultNamespace, team, platform.DefaultNamespace, team, platform.DefaultNamespace)

	// Once the subscriber of every namespace has the last event, the ring
	// holds all five, and each other subscriber takes at once what it may.
	receive(t, all, 1, 5)
	for _, tc := range []struct {
		name string
		s    *events.Subscriber
		want []int64
	}{
		{"team-a", teamOnly, []int64{2, 4}},
		{"default", defaultOnly, []int64{1, 3, 5}},
		{"both", both, []int64{1, 2, 3, 4, 5}},
		{"nobody", nobody, nil},
	} {
		got := tc.s.Take(nil)
		if ids := deliveredIDs(got); !slices.Equal(ids, tc.want) {
			t.Errorf("the subscriber of %s took %v, want %v", tc.name, ids, tc.want)
		}
		for _, d := range got {
			if !bytes.Contains(d.JSON, []byte(`"namespace":"`+d.Event.Namespace+`"`)) || d.Event.Namespace == "" {
				t.Errorf("event %d of namespace %q is sent as %s", d.Event.ID, d.Event.Namespace, d.JSON)
			}
		}
	}

	// Replays keep to the subscriber's namespaces, the hub's to none.
	ctx := context.Background()
	replay := func(fn func(func(*platform.Event) error) error) []int64 {
		var ids []int64
		if err := fn(func(e *platform.Event) error { ids = append(ids, e.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := replay(func(fn func(*platform.Event) error) error { return teamOnly.Replay(ctx, nil, 0, 5, fn) }); !slices.Equal(ids, []int64{2, 4}) {
		t.Errorf("the replay of team-a's subscriber gave %v", ids)
	}
	if ids := replay(func(fn func(*platform.Event) error) error { return h.Replay(ctx, nil, 0, 5, fn) }); !slices.Equal(ids, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("the hub's replay gave %v", ids)
	}
	s, err := h.NewSubscriber(platform.DefaultNamespace)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var streamed []int64
	err = s.Stream(ctx, "sse", nil, 0, func(e *platform.Event, _ []byte) error { streamed = append(streamed, e.ID); return nil },
		func() error { return nil }, func(e *platform.Event) bool { return e.ID == 5 })
	if err != nil || !slices.Equal(streamed, []int64{1, 3, 5}) {
		t.Errorf("the stream of the default namespace's subscriber gave %v, %v", streamed, err)
	}
}
