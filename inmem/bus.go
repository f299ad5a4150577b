package inmem

import (
	"context"
	"sync"

	"github.com/ossa-platform/platform"
)

// Bus is an EventBus inside one process: what hubs in one process (tests,
// or replicas run side by side) share. Publish calls every subscriber in
// turn.
type Bus struct {
	mu   sync.Mutex
	subs map[*func([]platform.Event)]struct{}
}

var _ platform.EventBus = (*Bus)(nil)

// NewBus returns a bus with no subscriber.
func NewBus() *Bus { return &Bus{subs: map[*func([]platform.Event)]struct{}{}} }

// Publish hands events to every subscriber, in the order of calls.
func (b *Bus) Publish(ctx context.Context, events []platform.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for fn := range b.subs {
		(*fn)(events)
	}
	return nil
}

// Subscribe calls fn with nil, then with every batch published, until ctx
// ends.
func (b *Bus) Subscribe(ctx context.Context, fn func([]platform.Event)) error {
	b.mu.Lock()
	b.subs[&fn] = struct{}{}
	b.mu.Unlock()
	fn(nil)
	<-ctx.Done()
	b.mu.Lock()
	delete(b.subs, &fn)
	b.mu.Unlock()
	return nil
}
