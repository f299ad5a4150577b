package sqlstore

import (
	"context"

	"github.com/ossa-platform/platform"
)

// Recorder collects what one change of a store records beside its own
// rows: the events the change emits (the outbox), the runs it enqueues
// (their River jobs) and its audit records. A store's change helper makes one recorder for each
// transaction, hands it to the change, and flushes it in that transaction
// before committing, so a change and everything it recorded commit or
// vanish together. No change writes those rows itself.
//
// A new kind of record (index updates) is one more method
// here and one more method of Sink, which every store must then implement;
// the changes keep their pattern, recording on the recorder they are given.
type Recorder struct {
	events []platform.Event
	jobs   []string
	audit  []platform.AuditRecord
}

// Audit records a, the audit record of the change: made with
// platform.NewAudit from the change's context, which names who asked for
// it and in which request. The store sets its ID and Time as it writes it.
// A change of a kind that is audited records one, whoever made it:
//
//	rec.Audit(platform.NewAudit(ctx, platform.AuditAgentCreate, a.Namespace,
//		platform.AuditTarget{Kind: platform.AuditTargetAgent, ID: a.ID, Name: a.Name}))
func (r *Recorder) Audit(a platform.AuditRecord) { r.audit = append(r.audit, a) }

// Event records e, an event of the change. Its Namespace is the namespace
// of what it concerns, which only callers who may see that namespace see.
func (r *Recorder) Event(e platform.Event) { r.events = append(r.events, e) }

// Job records that the run runID is to be enqueued: a new run, or one
// requeued.
func (r *Recorder) Job(runID string) { r.jobs = append(r.jobs, runID) }

// Events returns the events recorded so far, in the order recorded. A
// store's commit hook is called after a change that recorded any.
func (r *Recorder) Events() []platform.Event { return r.events }

// Sink writes records inside one transaction; each store implements it on
// its own. Flush calls each method at most once, with at least one record.
type Sink interface {
	// Jobs enqueues the runs, in order.
	Jobs(ctx context.Context, runIDs []string) error
	// Events writes the events, unsequenced, in order.
	Events(ctx context.Context, events []platform.Event) error
	// Audit writes the audit records, stamped (StampAudit).
	Audit(ctx context.Context, records []platform.AuditRecord) error
}

// Flush writes what was recorded to s, kind by kind, each kind in one
// call, and stops at the first error, which the change's transaction
// then rolls back with everything else.
func (r *Recorder) Flush(ctx context.Context, s Sink) error {
	if len(r.jobs) > 0 {
		if err := s.Jobs(ctx, r.jobs); err != nil {
			return err
		}
	}
	if len(r.events) > 0 {
		if err := s.Events(ctx, r.events); err != nil {
			return err
		}
	}
	if len(r.audit) > 0 {
		if err := s.Audit(ctx, r.audit); err != nil {
			return err
		}
	}
	return nil
}
