package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ossa-platform/platform"
)

// DefaultEventChannel is the Redis pub/sub channel the replicas share
// events on.
const DefaultEventChannel = "ossa:events"

// Bus is the EventBus of gateway replicas sharing one Redis: Redis pub/sub
// for live fan-out. Redis keeps nothing; a replica that misses messages
// reads the gap from the database.
type Bus struct {
	client  *Client
	channel string
	log     *slog.Logger
}

var _ platform.EventBus = (*Bus)(nil)

// Bus returns the event bus on channel (DefaultEventChannel when empty),
// logging broken subscriptions to log (slog.Default() when nil).
func (c *Client) Bus(channel string, log *slog.Logger) *Bus {
	if channel == "" {
		channel = DefaultEventChannel
	}
	if log == nil {
		log = slog.Default()
	}
	return &Bus{client: c, channel: channel, log: log}
}

// wireEvent is an event as the bus carries it: with what channels match.
type wireEvent struct {
	ID    int64           `json:"id"`
	Type  string          `json:"type"`
	Time  time.Time       `json:"time"`
	Agent string          `json:"agent,omitempty"`
	RunID string          `json:"run_id,omitempty"`
	Data  json.RawMessage `json:"data"`
}

// Publish sends events as one message.
func (b *Bus) Publish(ctx context.Context, events []platform.Event) error {
	wire := make([]wireEvent, len(events))
	for i, e := range events {
		wire[i] = wireEvent{e.ID, e.Type, e.Time, e.Agent, e.RunID, e.Data}
	}
	msg, err := json.Marshal(wire)
	if err != nil {
		return err
	}
	return b.client.Publish(ctx, b.channel, msg).Err()
}

// Subscribe delivers every message of the channel to fn until ctx ends,
// subscribing again, with a backoff up to 2 s, whenever Redis goes away.
func (b *Bus) Subscribe(ctx context.Context, fn func([]platform.Event)) error {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		live, err := b.subscribe(ctx, fn)
		if ctx.Err() != nil {
			break
		}
		if live {
			backoff = 50 * time.Millisecond
		}
		b.log.Warn("redis event subscription broke; subscribing again", "error", err.Error(), "retry_in", backoff.String())
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	return nil
}

// subscribe runs one subscription until it breaks, and reports whether it
// went live.
func (b *Bus) subscribe(ctx context.Context, fn func([]platform.Event)) (bool, error) {
	ps := b.client.Subscribe(ctx)
	defer ps.Close()
	// A receive waits on its timeout, not on ctx: closing ends it.
	defer context.AfterFunc(ctx, func() { ps.Close() })()
	if err := ps.Subscribe(ctx, b.channel); err != nil {
		return false, err
	}
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		return false, err
	}
	fn(nil)
	for {
		msg, err := ps.ReceiveTimeout(ctx, 15*time.Second)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			// Quiet: check that the connection still works.
			if err := ps.Ping(ctx); err != nil {
				return true, err
			}
			continue
		case err != nil:
			return true, err
		}
		switch m := msg.(type) {
		case *goredis.Message:
			var wire []wireEvent
			if err := json.Unmarshal([]byte(m.Payload), &wire); err != nil {
				b.log.Error("undecodable event message on redis", "channel", m.Channel, "error", err.Error())
				fn(nil) // something was lost: let the hub read the store
				continue
			}
			batch := make([]platform.Event, len(wire))
			for i, w := range wire {
				batch[i] = platform.Event{ID: w.ID, Type: w.Type, Time: w.Time, Agent: w.Agent, RunID: w.RunID, Data: w.Data}
			}
			fn(batch)
		case *goredis.Subscription:
			fn(nil) // resubscribed after go-redis reconnected by itself
		}
	}
}
