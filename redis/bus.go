package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ossa-platform/platform"
)

// EventChannel is the name, under the client's prefix, of the pub/sub
// channel the replicas share events on: "ossa:0:events" by default.
const EventChannel = "events"

// Bus is the EventBus of gateway replicas sharing one Redis: Redis pub/sub
// for live fan-out. Redis keeps nothing; a replica that misses messages
// reads the gap from the database.
//
// It logs Redis going away and coming back once each, not at every retry:
// a warning when the subscription breaks or a publish fails after working,
// debug records while it stays away, and info when it works again.
type Bus struct {
	client  *Client
	channel string
	log     *slog.Logger

	// pubMu guards the publishing state: since when publishing fails
	// (zero while it works) and how many publishes failed since.
	pubMu       sync.Mutex
	pubDown     time.Time
	pubFailures int

	// badMu guards the count of undecodable messages not logged yet and
	// when one was last logged: at most one line a minute, so that a
	// flood of them does not flood the log.
	badMu     sync.Mutex
	badCount  int
	badLogged time.Time
}

// badLogEvery is how often undecodable messages are logged at most.
const badLogEvery = time.Minute

var _ platform.EventBus = (*Bus)(nil)

// Bus returns the event bus on the channel Name(EventChannel), logging to
// log (slog.Default() when nil).
func (c *Client) Bus(log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	return &Bus{client: c, channel: c.Name(EventChannel), log: log}
}

// Channel is the Redis channel the bus publishes and subscribes on.
func (b *Bus) Channel() string { return b.channel }

// wireEvent is an event as the bus carries it: with what channels match
// and its namespace, each left out when empty (as a replica from before
// namespaces publishes it, and reads a newer one's message).
type wireEvent struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Time      time.Time       `json:"time"`
	Agent     string          `json:"agent,omitempty"`
	RunID     string          `json:"run_id,omitempty"`
	Data      json.RawMessage `json:"data"`
	Namespace string          `json:"namespace,omitempty"`
}

// Publish sends events as one message.
func (b *Bus) Publish(ctx context.Context, events []platform.Event) error {
	wire := make([]wireEvent, len(events))
	for i, e := range events {
		wire[i] = wireEvent{e.ID, e.Type, e.Time, e.Agent, e.RunID, e.Data, e.Namespace}
	}
	msg, err := json.Marshal(wire)
	if err != nil {
		return err
	}
	err = b.client.Publish(ctx, b.channel, msg).Err()
	if ctx.Err() == nil {
		b.published(err)
	}
	return err
}

// published logs the changes of the publishing state.
func (b *Bus) published(err error) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	switch {
	case err != nil && b.pubDown.IsZero():
		b.pubDown, b.pubFailures = time.Now(), 1
		b.log.Warn("publishing events to redis failed; the other replicas read them from the database until it works again",
			"channel", b.channel, "error", err.Error())
	case err != nil:
		b.pubFailures++
		b.log.Debug("publishing events to redis still fails", "channel", b.channel, "error", err.Error(), "failures", b.pubFailures)
	case !b.pubDown.IsZero():
		b.log.Info("publishing events to redis works again", "channel", b.channel,
			"down_for", time.Since(b.pubDown).Round(time.Millisecond).String(), "failures", b.pubFailures)
		b.pubDown, b.pubFailures = time.Time{}, 0
	}
}

// undecodable logs a message that is not a batch of events, at most once
// per badLogEvery with the count since the last line.
func (b *Bus) undecodable(err error) {
	b.badMu.Lock()
	defer b.badMu.Unlock()
	b.badCount++
	if !b.badLogged.IsZero() && time.Since(b.badLogged) < badLogEvery {
		return
	}
	b.log.Error("undecodable event messages on redis: something other than the gateway publishes on its channel",
		"channel", b.channel, "error", err.Error(), "count", b.badCount)
	b.badCount, b.badLogged = 0, time.Now()
}

// Subscribe delivers every message of the channel to fn until ctx ends,
// subscribing again, with a backoff up to 2 s, whenever Redis goes away.
func (b *Bus) Subscribe(ctx context.Context, fn func([]platform.Event)) error {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	var down time.Time // since when the subscription is down; zero while live
	failures := 0
	live := func() {
		if down.IsZero() {
			b.log.Debug("redis event subscription live", "channel", b.channel)
		} else {
			b.log.Info("redis event subscription live again", "channel", b.channel,
				"down_for", time.Since(down).Round(time.Millisecond).String(), "attempts", failures)
		}
		down, failures, backoff = time.Time{}, 0, minBackoff
	}
	for ctx.Err() == nil {
		err := b.subscribe(ctx, fn, live)
		if ctx.Err() != nil {
			break
		}
		failures++
		if down.IsZero() {
			down = time.Now()
			b.log.Warn("redis event subscription down; subscribing again until it is back (events from the other replicas come from the database meanwhile)",
				"channel", b.channel, "error", err.Error())
		} else {
			b.log.Debug("redis event subscription still down", "channel", b.channel, "error", err.Error(),
				"attempts", failures, "retry_in", backoff.String())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	return nil //nolint:nilerr // Subscribe ends, as its contract says, when ctx does
}

// subscribe runs one subscription until it breaks, calling live once it
// is confirmed.
func (b *Bus) subscribe(ctx context.Context, fn func([]platform.Event), live func()) error {
	ps := b.client.Subscribe(ctx)
	defer func() { _ = ps.Close() }()
	// A receive waits on its timeout, not on ctx: closing ends it.
	defer context.AfterFunc(ctx, func() { _ = ps.Close() })()
	if err := ps.Subscribe(ctx, b.channel); err != nil {
		return err
	}
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		return err
	}
	live()
	fn(nil)
	for {
		msg, err := ps.ReceiveTimeout(ctx, 15*time.Second)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			// Quiet: check that the connection still works.
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		switch m := msg.(type) {
		case *goredis.Message:
			var wire []wireEvent
			if err := json.Unmarshal([]byte(m.Payload), &wire); err != nil {
				b.undecodable(err)
				fn(nil) // something was lost: let the hub read the store
				continue
			}
			batch := make([]platform.Event, len(wire))
			for i, w := range wire {
				batch[i] = platform.Event{ID: w.ID, Type: w.Type, Time: w.Time, Agent: w.Agent, RunID: w.RunID, Data: w.Data,
					Namespace: w.Namespace}
			}
			fn(batch)
		case *goredis.Subscription:
			fn(nil) // resubscribed after go-redis reconnected by itself
		}
	}
}
