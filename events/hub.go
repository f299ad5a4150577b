// Package events delivers the platform's events live: each gateway replica
// runs one Hub, which sequences the events its store wrote (the outbox),
// shares them with the other replicas over an EventBus, and hands them to
// the WebSocket and SSE subscribers connected to it, in stream order,
// exactly once, filling any gap from the store.
//
// The store is the record, and the bus only says when to look: a hub
// delivers what another replica published as its store has it, never as
// the bus carried it, so that whatever else writes to the bus's channel
// can neither forge an event nor make the hub skip one.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ossa-platform/platform"
)

// Config sets up a Hub. Zero fields take the defaults their comments give.
type Config struct {
	// Store holds the events; required.
	Store platform.EventStore
	// Bus carries events between replicas; nil when the gateway runs
	// alone, which needs none.
	Bus platform.EventBus
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
	// Retention is how long events are kept for replay: 24h by default.
	Retention time.Duration
	// PollInterval is how often the hub looks in the store for events no
	// notification announced (another replica's, while the bus is down, or
	// left by a replica that died before sequencing them): 1s by default.
	PollInterval time.Duration
	// Buffer is how many events a subscriber may fall behind by before it
	// is dropped as too slow, rounded up to a power of two: the size of the
	// hub's ring of recent events, which every subscriber reads from.
	// DefaultBuffer by default.
	Buffer int
	// Coalesce is how long a subscriber that was just woken for an event
	// may wait for the next ones, so that under load each wake-up (and each
	// write to the client) carries a batch instead of one event: 20ms by
	// default. The first event after a quiet spell goes out at once. Each
	// subscriber waits for a phase of the period of its own, spread evenly
	// over it, so that the writes to many clients are spread too instead of
	// all coming at one tick.
	Coalesce time.Duration
	// Sequenced, when set, is called with each batch of events this hub
	// sequenced (gave their IDs), before they are delivered, on the hub's
	// one goroutine: it must be quick and leave the events unchanged.
	// Each event is sequenced once, by one replica, so what it counts
	// counts each change of the whole deployment once (summed over the
	// replicas).
	Sequenced func(batch []platform.Event)
}

// DefaultBuffer is how far a subscriber may fall behind by default: about
// four times the largest batch one sequencing delivers at once.
const DefaultBuffer = 4096

// ErrSlow ends a subscriber whose buffer filled up.
var ErrSlow = errors.New("too slow: fell more than the buffer behind the event stream")

// ErrClosed ends the subscribers of a hub that closed.
var ErrClosed = errors.New("the gateway is shutting down")

// Hub sequences, shares and delivers events. Create it with New.
type Hub struct {
	cfg Config
	log *slog.Logger
	// wake is signalled by local commits, arrived by the bus.
	wake    chan struct{}
	arrived chan struct{}
	cancel  context.CancelFunc
	done    sync.WaitGroup

	// claims holds the IDs of the events the bus announced, for the
	// pump; resync says the bus may have lost some. spare is the pump's
	// buffer for the next claims.
	inMu   sync.Mutex
	claims []int64
	resync bool
	spare  []int64
	// unconfirmed counts the events the bus announced and the store did
	// not have; unlogged, those not logged yet, since loggedAt.
	unconfirmed atomic.Int64
	unlogged    int64
	loggedAt    time.Time

	mu     sync.RWMutex
	last   int64 // the newest event delivered
	subs   map[*Subscriber]struct{}
	closed bool
	// ring holds the newest events, the one of position p at p&mask; head
	// is the position of the next. Subscribers read it from their cursors.
	ring      []ringEntry
	mask      uint64
	head      uint64
	dropped   int64
	delivered atomic.Int64
	// phases divide the Coalesce period. Each subscriber belongs to one
	// (nextPhase hands them out in turn) and is woken at most once a
	// period of its phase: at once for the first event after a quiet
	// spell, else at its phase's next tick. tick counts the ticks, one per
	// phase, each Coalesce/len(phases) apart.
	phases    []phase
	nextPhase int
	tick      uint64
	// published says an event was published in the current period. After
	// a period without any, the ticks stop until the next event, so that
	// an idle gateway does not wake up every few milliseconds.
	published bool
}

// phase is one phase of the coalescing period.
type phase struct {
	// epoch counts the phase's periods; a subscriber woken in the
	// current one waits in deferred for the next.
	epoch    uint64
	deferred []*Subscriber
}

// maxPhases is how many phases the coalescing period has at most; each is
// at least a millisecond long.
const maxPhases = 10

// ringEntry is one event in the ring, with its JSON.
type ringEntry struct {
	event   *platform.Event
	encoded []byte
}

// maxClaims is how many announced events may wait for the pump; beyond it
// the hub drops them and reads the store instead, so that a flood costs
// memory no longer than it takes to read the database.
const maxClaims = 100_000

// unconfirmedLogEvery is how often, at most, the hub logs that the bus
// announced events the store does not have.
const unconfirmedLogEvery = time.Minute

// Metrics counts what a hub did, for the gateway's /metrics.
type Metrics struct {
	Subscribers int
	Delivered   int64
	Dropped     int64
	Last        int64
	// Unconfirmed counts the events the bus announced that the store did
	// not have when the hub read it: published on the bus's channel by
	// something other than a replica of this deployment.
	Unconfirmed int64
}

// New returns a hub; Start sets it going.
func New(cfg Config) *Hub {
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Coalesce <= 0 {
		cfg.Coalesce = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	size := 1
	for size < cfg.Buffer {
		size *= 2
	}
	cfg.Buffer = size
	// Epochs start at 1, so that a new subscriber (woken in epoch 0) is
	// woken at once for its first event.
	phases := make([]phase, min(maxPhases, max(1, int(cfg.Coalesce/time.Millisecond))))
	for i := range phases {
		phases[i].epoch = 1
	}
	return &Hub{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), arrived: make(chan struct{}, 1), subs: map[*Subscriber]struct{}{},
		ring: make([]ringEntry, size), mask: uint64(size - 1), phases: phases}
}

// Start reads the stream's position and starts delivering.
func (h *Hub) Start(ctx context.Context) error {
	last, err := h.cfg.Store.LastEventID(ctx)
	if err != nil {
		return err
	}
	h.last = last
	ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if h.cfg.Bus != nil {
		h.done.Add(1)
		go func() {
			defer h.done.Done()
			if err := h.cfg.Bus.Subscribe(ctx, h.received); err != nil && ctx.Err() == nil {
				h.log.Error("event bus subscription ended", "error", err.Error())
			}
		}()
	}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		h.pump(ctx)
	}()
	return nil
}

// Close stops the hub and ends every subscriber with ErrClosed.
func (h *Hub) Close() error {
	if h.cancel != nil {
		h.cancel()
		h.done.Wait()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.end(ErrClosed)
	}
	clear(h.subs)
	return nil
}

// Notify tells the hub that a change was committed in this process, so
// that it sequences and delivers the change's events now rather than at
// the next poll. It never blocks.
func (h *Hub) Notify() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Metrics returns the hub's counters.
func (h *Hub) Metrics() Metrics {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return Metrics{Subscribers: len(h.subs), Delivered: h.delivered.Load(), Dropped: h.dropped, Last: h.last,
		Unconfirmed: h.unconfirmed.Load()}
}

// received is the bus's callback: it queues the IDs of the batch for the
// pump, which reads the events from the store; what else the batch says is
// not believed. A nil batch means the subscription (re)started, so events
// may have been missed.
func (h *Hub) received(batch []platform.Event) {
	h.inMu.Lock()
	switch {
	case batch == nil:
		h.resync = true
	case len(h.claims)+len(batch) > maxClaims:
		h.claims, h.resync = h.claims[:0], true
	default:
		for i := range batch {
			h.claims = append(h.claims, batch[i].ID)
		}
	}
	h.inMu.Unlock()
	select {
	case h.arrived <- struct{}{}:
	default:
	}
}

// pump is the hub's one goroutine that sequences and delivers, so events
// reach subscribers in one order.
func (h *Hub) pump(ctx context.Context) {
	poll := time.NewTicker(h.cfg.PollInterval)
	defer poll.Stop()
	prune := time.NewTicker(max(min(h.cfg.Retention/4, 10*time.Minute), time.Second))
	defer prune.Stop()
	// The coalescing ticks run only while events flow.
	period := h.cfg.Coalesce / time.Duration(len(h.phases))
	coalesce := time.NewTicker(period)
	coalesce.Stop()
	defer coalesce.Stop()
	ticking := false
	h.prune(ctx)
	for {
		if !ticking && h.flowing() {
			coalesce.Reset(period)
			ticking = true
		}
		select {
		case <-ctx.Done():
			return
		case <-coalesce.C:
			if ticking = h.nextTick(); !ticking {
				coalesce.Stop()
			}
		case <-h.wake:
			h.sequence(ctx)
		case <-h.arrived:
			h.drainIncoming(ctx)
		case <-poll.C:
			h.sequence(ctx)
			h.drainIncoming(ctx)
			h.catchUp(ctx)
		case <-prune.C:
			h.prune(ctx)
		}
	}
}

// sequence numbers what this process (or a dead one) wrote, delivers it
// here at once and publishes it to the other replicas.
func (h *Hub) sequence(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := h.cfg.Store.SequenceEvents(ctx)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("sequence events", "error", err.Error())
			}
			return
		}
		if len(batch) == 0 {
			return
		}
		if h.cfg.Sequenced != nil {
			h.cfg.Sequenced(batch)
		}
		h.deliver(ctx, batch)
		if h.cfg.Bus != nil {
			if err := h.cfg.Bus.Publish(ctx, batch); err != nil && ctx.Err() == nil {
				// The other replicas find these events at their next poll;
				// the bus logs when publishing breaks and comes back.
				h.log.Debug("publish events", "error", err.Error(), "first", batch[0].ID, "count", len(batch))
			}
		}
	}
}

// drainIncoming delivers what the bus announced, as the store has it: all
// the announcements waiting are one read of the store, from the last event
// delivered up to the newest announced. An announced event the store does
// not have is counted as unconfirmed and otherwise ignored; the hub's
// position stays where the store's events put it, so the real event of
// that ID is delivered once it is there.
func (h *Hub) drainIncoming(ctx context.Context) {
	for {
		h.inMu.Lock()
		claims, resync := h.claims, h.resync
		h.claims, h.resync = h.spare[:0], false
		h.inMu.Unlock()
		h.spare = claims
		if resync {
			h.catchUp(ctx)
		}
		if len(claims) == 0 {
			return
		}
		last := h.position()
		target := last
		for _, id := range claims {
			target = max(target, id)
		}
		if target == last || !h.readUpTo(ctx, target) {
			continue // nothing new, or the store failed: the poll reads it
		}
		last = h.position()
		n := 0
		for _, id := range claims {
			if id > last {
				n++
			}
		}
		if n > 0 {
			h.unconfirmedClaims(n, target, last)
		}
	}
}

// readUpTo delivers the store's events after the last delivered, up to
// and including target, and reports whether the store answered.
func (h *Hub) readUpTo(ctx context.Context, target int64) bool {
	for ctx.Err() == nil {
		from := h.position()
		if from >= target {
			return true
		}
		page, err := h.cfg.Store.ListEvents(ctx, platform.EventQuery{After: from, Limit: int(min(target-from, platform.DefaultEventBatch))})
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("read announced events", "after", from, "error", err.Error())
			}
			return false
		}
		if len(page) == 0 {
			return true
		}
		h.publishLocal(page)
	}
	return false
}

// unconfirmedClaims counts n announced events the store did not have and
// logs them, at most once per unconfirmedLogEvery.
func (h *Hub) unconfirmedClaims(n int, highest, last int64) {
	h.unconfirmed.Add(int64(n))
	h.unlogged += int64(n)
	if now := time.Now(); h.loggedAt.IsZero() || now.Sub(h.loggedAt) >= unconfirmedLogEvery {
		h.log.Warn("the event bus announced events the database does not have; ignored them (does another deployment publish on this channel? see OSSA_REDIS_PREFIX)",
			"count", h.unlogged, "highest", highest, "last", last)
		h.unlogged, h.loggedAt = 0, now
	}
}

// catchUp delivers what the store has beyond the last event delivered.
func (h *Hub) catchUp(ctx context.Context) {
	h.deliver(ctx, nil)
}

// deliver hands batch to the subscribers, skipping events already
// delivered and first filling from the store any gap before it (or, for
// a nil batch, everything the store has beyond the last event delivered).
func (h *Hub) deliver(ctx context.Context, batch []platform.Event) {
	// Only the pump delivers, so the position moves only here.
	last := h.position()
	for len(batch) > 0 && batch[0].ID <= last {
		batch = batch[1:]
	}
	if batch == nil || (len(batch) > 0 && batch[0].ID > last+1) {
		for ctx.Err() == nil {
			from := h.position()
			fill, err := h.cfg.Store.ListEvents(ctx, platform.EventQuery{After: from})
			if err != nil {
				if ctx.Err() == nil {
					h.log.Error("read missed events", "after", from, "error", err.Error())
				}
				return // the next poll tries again; nothing is skipped
			}
			if len(batch) > 0 {
				fill = upTo(fill, batch[0].ID)
			}
			if len(fill) == 0 {
				break
			}
			h.publishLocal(fill)
		}
	}
	if len(batch) > 0 {
		h.publishLocal(batch) // skips what the fill delivered already
	}
}

// upTo is the events of es before id.
func upTo(es []platform.Event, id int64) []platform.Event {
	for i, e := range es {
		if e.ID >= id {
			return es[:i]
		}
	}
	return es
}

func (h *Hub) position() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// nextTick starts the next period of the next phase and wakes the
// subscribers of that phase whose events waited for it. Once a period it
// also ends the subscribers that fell more than the ring behind, and after
// a period without events it reports that the ticks may stop (false): it
// then starts a new period of every phase, so that the next event wakes its
// subscribers at once.
func (h *Hub) nextTick() (more bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tick++
	p := &h.phases[h.tick%uint64(len(h.phases))]
	p.epoch++
	for _, s := range p.deferred {
		s.deferred = false
		s.wake(p.epoch)
	}
	clear(p.deferred)
	p.deferred = p.deferred[:0]
	if h.tick%uint64(len(h.phases)) != 0 {
		return true
	}
	for s := range h.subs {
		if h.head-s.cursor > uint64(len(h.ring)) {
			s.end(ErrSlow)
			delete(h.subs, s)
			h.dropped++
		}
	}
	if h.published {
		h.published = false
		return true
	}
	for i := range h.phases {
		if len(h.phases[i].deferred) > 0 {
			return true
		}
	}
	for i := range h.phases {
		h.phases[i].epoch++
	}
	return false
}

// flowing reports whether an event was published in the current period.
func (h *Hub) flowing() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.published
}

// publishLocal puts events, in order and newer than the last, in the ring
// and wakes the subscribers whose channels they are on.
func (h *Hub) publishLocal(events []platform.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range events {
		e := &events[i]
		if e.ID <= h.last {
			continue
		}
		h.last = e.ID
		encoded, err := json.Marshal(e)
		if err != nil {
			h.log.Error("encode event", "id", e.ID, "error", err.Error())
			continue
		}
		h.ring[h.head&h.mask] = ringEntry{event: e, encoded: encoded}
		h.head++
		h.published = true
		for s := range h.subs {
			p := &h.phases[s.phase]
			switch {
			case s.woken != p.epoch:
				if s.matches(e) {
					s.wake(p.epoch)
				}
			case !s.deferred:
				s.deferred = true
				p.deferred = append(p.deferred, s)
			}
		}
	}
}

func (h *Hub) prune(ctx context.Context) {
	n, err := h.cfg.Store.PruneEvents(ctx, time.Now().Add(-h.cfg.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		h.log.Error("prune events", "error", err.Error())
	case n > 0:
		h.log.Info("pruned events", "count", n, "retention", h.cfg.Retention.String())
	}
}

// Replay calls fn with the stored events on channels after after, up to
// and including upTo, oldest first, of every namespace; Subscriber.Replay
// keeps to the subscriber's.
func (h *Hub) Replay(ctx context.Context, channels []platform.Channel, after, upTo int64, fn func(*platform.Event) error) error {
	return h.replay(ctx, platform.EventQuery{After: after, Channels: channels}, upTo, fn)
}

// replay calls fn with the stored events q selects, up to and including
// upTo, oldest first, reading them page by page from q.After.
func (h *Hub) replay(ctx context.Context, q platform.EventQuery, upTo int64, fn func(*platform.Event) error) error {
	for q.After < upTo {
		page, err := h.cfg.Store.ListEvents(ctx, q)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for i := range page {
			if page[i].ID > upTo {
				return nil
			}
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		q.After = page[len(page)-1].ID
	}
	return nil
}
