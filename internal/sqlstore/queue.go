package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/riverqueue/river/riverdriver"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/queue"
)

// RunQueue is a store's run queue through its life: insert-only from Open,
// so that runs can be created on any replica; working after Start; gone
// after Close. Stores enqueue through the queue of the moment, inside
// their own transactions.
type RunQueue[TTx any] struct {
	driver func() riverdriver.Driver[TTx]
	// pollOnly is forced on every queue, for drivers without notifications.
	pollOnly bool

	mu      sync.Mutex
	q       *queue.Queue[TTx]
	started bool
}

// NewRunQueue returns an insert-only queue on the drivers driver makes.
func NewRunQueue[TTx any](driver func() riverdriver.Driver[TTx], pollOnly bool) (*RunQueue[TTx], error) {
	q, err := queue.New(driver(), queue.Config{PollOnly: pollOnly})
	if err != nil {
		return nil, err
	}
	return &RunQueue[TTx]{driver: driver, pollOnly: pollOnly, q: q}, nil
}

// Start replaces the insert-only queue with one that executes runs with
// cfg.Executor, until Close; ctx bounds only starting it.
func (r *RunQueue[TTx]) Start(ctx context.Context, cfg queue.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.q == nil:
		return errors.New("the store is closed")
	case r.started:
		return errors.New("the run queue is already started")
	case cfg.Executor == nil:
		return errors.New("the run queue needs an executor")
	}
	cfg.PollOnly = cfg.PollOnly || r.pollOnly
	q, err := queue.New(r.driver(), cfg)
	if err != nil {
		return err
	}
	// River stops a client when the context of Start ends; this one is
	// stopped by Close only.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start the run queue: %w", err)
	}
	r.q, r.started = q, true
	return nil
}

// Get returns the queue to enqueue runs through, EUNAVAILABLE after Close.
func (r *RunQueue[TTx]) Get() (*queue.Queue[TTx], error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.q == nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "the run queue is closed")
	}
	return r.q, nil
}

// Close stops the queue, waiting at most StopTimeout for the runs in
// progress to stop. Runs cut short stay leased until their lease expires;
// then another replica, or this one after a restart, takes them up from
// their last checkpoint.
func (r *RunQueue[TTx]) Close() error {
	r.mu.Lock()
	q := r.q
	r.q = nil
	r.mu.Unlock()
	if q == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	return q.Stop(ctx)
}
