package events

import (
	"context"
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
// channels it covers, with one queue for all of them. Events are queued in
// stream order, once per subscription they match; Ready says when to Take
// them. The queue holds at most the hub's Buffer deliveries and takes
// memory only while the client is behind.
type Subscriber struct {
	hub   *Hub
	ready chan struct{}
	done  chan struct{}
	once  sync.Once
	err   error

	mu    sync.Mutex
	queue []Delivery

	// subs is guarded by hub.mu.
	subs map[string][]platform.Channel
}

// NewSubscriber returns a subscriber with no subscription yet.
func (h *Hub) NewSubscriber() (*Subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	s := &Subscriber{hub: h, ready: make(chan struct{}, 1), done: make(chan struct{}), subs: map[string][]platform.Channel{}}
	h.subs[s] = struct{}{}
	return s, nil
}

// Subscribe adds (or replaces) the subscription name to channels and
// returns the stream position it starts after: every later event that
// matches arrives on C. Replay what came before with Hub.Replay.
func (s *Subscriber) Subscribe(name string, channels []platform.Channel) (start int64) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.subs[name] = channels
	return s.hub.last
}

// Unsubscribe removes the subscription name and reports whether it
// existed. Deliveries already buffered for it still arrive.
func (s *Subscriber) Unsubscribe(name string) bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	_, ok := s.subs[name]
	delete(s.subs, name)
	return ok
}

// Ready receives a value when deliveries wait to be taken.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Take appends the waiting deliveries to buf and returns it.
func (s *Subscriber) Take(buf []Delivery) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf = append(buf, s.queue...)
	clear(s.queue)
	if cap(s.queue) > 64 {
		s.queue = nil // a burst is over: give its memory back
	} else {
		s.queue = s.queue[:0]
	}
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

// offer queues e for each subscription it matches, and reports false
// when the queue is full. The hub holds its lock.
func (s *Subscriber) offer(e *platform.Event, encoded []byte) bool {
	queued := false
	for name, chans := range s.subs {
		if !platform.MatchAny(chans, e) {
			continue
		}
		s.mu.Lock()
		full := len(s.queue) >= s.hub.cfg.Buffer
		if !full {
			s.queue = append(s.queue, Delivery{Subscription: name, Event: e, JSON: encoded})
		}
		s.mu.Unlock()
		if full {
			return false
		}
		queued = true
	}
	if queued {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
	return true
}

func (s *Subscriber) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Stream delivers to send the events of one subscription made on s, in
// order and once each: those after since from the store (none when since
// is negative), then live ones, until ctx or the subscriber ends. It is
// for clients with a single subscription, such as SSE; stop tells it to
// return nil after an event.
func (s *Subscriber) Stream(ctx context.Context, name string, channels []platform.Channel, since int64,
	send func(*platform.Event, []byte) error, stop func(*platform.Event) bool) error {
	start := s.Subscribe(name, channels)
	cursor := start
	if since >= 0 {
		if err := s.hub.Replay(ctx, channels, since, start, func(e *platform.Event) error {
			if err := send(e, nil); err != nil {
				return err
			}
			if stop(e) {
				return errStop
			}
			return nil
		}); err != nil {
			if err == errStop {
				return nil
			}
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
		for _, d := range buf {
			if d.Subscription != name || d.Event.ID <= cursor {
				continue
			}
			cursor = d.Event.ID
			if err := send(d.Event, d.JSON); err != nil {
				return err
			}
			if stop(d.Event) {
				return nil
			}
		}
	}
}

type stopError struct{}

func (stopError) Error() string { return "stop" }

var errStop error = stopError{}
