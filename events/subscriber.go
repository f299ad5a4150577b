package events

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/ossa-platform/platform"
)

// Delivery is one event on one subscription of a subscriber.
type Delivery struct {
	// Subscription is the name the subscription was made under.
	Subscription string
	Event        *platform.Event
	// JSON is Event encoded, once for every subscriber.
	JSON []byte
}

// Subscriber is one client's set of subscriptions, each a name and the
// channels it covers. It reads the hub's ring of recent events from a
// cursor of its own: Ready says when there is something to Take, and a
// subscriber whose cursor falls more than the ring behind is ended as too
// slow. An idle subscriber holds no event.
type Subscriber struct {
	hub   *Hub
	ready chan struct{}
	done  chan struct{}
	once  sync.Once
	err   error
	// namespaces limits every subscription to the events of these
	// namespaces; every namespace when empty. Fixed at NewSubscriber.
	namespaces []string

	// Guarded by hub.mu: the subscriptions, the ring position of the next
	// event to take (written by Take under the read lock, which only its
	// own goroutine calls), the hub's coalescing phase the subscriber
	// belongs to, the epoch of that phase it was last woken in, and
	// whether it waits in the phase's deferred list for the next epoch.
	subs     []subscription
	cursor   uint64
	phase    int
	woken    uint64
	deferred bool
}

// subscription is one named set of channels of a subscriber.
type subscription struct {
	name     string
	channels []platform.Channel
}

// NewSubscriber returns a subscriber with no subscription yet. Its
// subscriptions, live and replayed (Subscriber.Replay, Stream), carry only
// the events of namespaces, or of every namespace when none is given: a
// caller that may see no namespace at all must not subscribe.
func (h *Hub) NewSubscriber(namespaces ...string) (*Subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &Subscriber{hub: h, ready: make(chan struct{}, 1), done: make(chan struct{}), cursor: h.head, phase: h.nextPhase,
		namespaces: slices.Clone(namespaces)}
	h.nextPhase = (h.nextPhase + 1) % len(h.phases)
	h.subs[s] = struct{}{}
	return s, nil
}

// Subscribe adds (or replaces) the subscription name to channels and
// returns the stream position it starts after: every later event that
// matches arrives on C. Replay what came before with Replay.
func (s *Subscriber) Subscribe(name string, channels []platform.Channel) (start int64) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.subs = slices.DeleteFunc(s.subs, func(x subscription) bool { return x.name == name })
	s.subs = append(s.subs, subscription{name, channels})
	return s.hub.last
}

// Unsubscribe removes the subscription name and reports whether it
// existed.
func (s *Subscriber) Unsubscribe(name string) bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	n := len(s.subs)
	s.subs = slices.DeleteFunc(s.subs, func(x subscription) bool { return x.name == name })
	return len(s.subs) < n
}

// Ready receives a value when events wait to be taken, when the
// subscriber ends, and after Wake.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Wake makes Ready receive a value, as an event would: a client that has
// other work besides events can wait on Ready alone and be woken for it.
func (s *Subscriber) Wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Take appends to buf the waiting deliveries, once per subscription each
// event matches, in stream order, and returns it. A subscriber that fell
// more than the ring behind is ended with ErrSlow and takes nothing.
func (s *Subscriber) Take(buf []Delivery) []Delivery {
	h := s.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.head-s.cursor > uint64(len(h.ring)) {
		return buf // the hub ends it at its next tick
	}
	n := 0
	for ; s.cursor < h.head; s.cursor++ {
		r := &h.ring[s.cursor&h.mask]
		if !s.sees(r.event) {
			continue
		}
		for _, sub := range s.subs {
			if platform.MatchAny(sub.channels, r.event) {
				buf = append(buf, Delivery{Subscription: sub.name, Event: r.event, JSON: r.encoded})
				n++
			}
		}
	}
	h.delivered.Add(int64(n))
	return buf
}

// Done is closed when the subscriber ends: closed, too slow, or the hub
// closing. Err then says why.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// Err is why the subscriber ended: nil while it lives or after Close,
// ErrSlow or ErrClosed.
func (s *Subscriber) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscriber.
func (s *Subscriber) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	delete(s.hub.subs, s)
	s.end(nil)
}

// Replay calls fn with the stored events on channels, of the subscriber's
// namespaces, after after, up to and including upTo, oldest first: the
// events before a subscription's start (Subscribe's result).
func (s *Subscriber) Replay(ctx context.Context, channels []platform.Channel, after, upTo int64, fn func(*platform.Event) error) error {
	return s.hub.replay(ctx, platform.EventQuery{After: after, Channels: channels, Namespaces: s.namespaces}, upTo, fn)
}

// sees reports whether e is of one of the subscriber's namespaces.
func (s *Subscriber) sees(e *platform.Event) bool {
	return len(s.namespaces) == 0 || slices.Contains(s.namespaces, e.Namespace)
}

// matches reports whether e is on one of the subscriber's channels, and
// of its namespaces. The hub holds its lock.
func (s *Subscriber) matches(e *platform.Event) bool {
	if !s.sees(e) {
		return false
	}
	for _, sub := range s.subs {
		if platform.MatchAny(sub.channels, e) {
			return true
		}
	}
	return false
}

// wake signals Ready, in its phase's epoch. The hub holds its lock.
func (s *Subscriber) wake(epoch uint64) {
	s.woken = epoch
	s.Wake()
}

func (s *Subscriber) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
		s.Wake()
	})
}

// Stream delivers to send the events of one subscription made on s, in
// order and once each: those after since from the store (none when since
// is negative), then live ones, until ctx or the subscriber ends. It is
// for clients with a single subscription, such as SSE; stop tells it to
// return nil after an event. flush is called after each batch sent (the
// replay, each live wake-up's events), so that a client may buffer its
// writes and send a batch at once.
func (s *Subscriber) Stream(ctx context.Context, name string, channels []platform.Channel, since int64,
	send func(*platform.Event, []byte) error, flush func() error, stop func(*platform.Event) bool) error {
	start := s.Subscribe(name, channels)
	cursor := start
	if since >= 0 {
		err := s.Replay(ctx, channels, since, start, func(e *platform.Event) error {
			if err := send(e, nil); err != nil {
				return err
			}
			if stop(e) {
				return errStop
			}
			return nil
		})
		stopped := errors.Is(err, errStop)
		if err != nil && !stopped {
			return err
		}
		if err := flush(); err != nil || stopped {
			return err
		}
		cursor = max(since, start)
	}
	var buf []Delivery
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return s.err
		case <-s.ready:
		}
		buf = s.Take(buf[:0])
		sent := false
		for _, d := range buf {
			if d.Subscription != name || d.Event.ID <= cursor {
				continue
			}
			cursor = d.Event.ID
			if err := send(d.Event, d.JSON); err != nil {
				return err
			}
			sent = true
			if stop(d.Event) {
				return flush()
			}
		}
		if sent {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// errStop ends a replay early: stop said the event sent was the last.
var errStop = errors.New("stop")
