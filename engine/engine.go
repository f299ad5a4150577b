// Package engine runs workflows: it checks a workflow and its parameters
// when a run is submitted, then executes runs step by step for the store's
// durable queue. Steps form a DAG by depends_on and by the steps their
// expressions read; independent steps run at once. Every step's state is a
// checkpoint in the store, taken under a lease that makes one executor own
// a run at a time, so a run whose executor died resumes on another (or the
// restarted) gateway from its last checkpoint: finished steps are not run
// again, and a step cut off mid-call is sent again with the same
// Idempotency-Key.
package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ossa-platform/platform"
)

// Config configures an Engine. Zero fields take the documented defaults.
type Config struct {
	Agents    platform.AgentStore
	Workflows platform.WorkflowStore
	Runs      platform.RunLedger
	Invoker   platform.AgentInvoker
	// Discoverer picks the agents of query steps; without it a workflow
	// with a query step is refused.
	Discoverer platform.Discoverer
	Logger     *slog.Logger
	// Owner names this executor in run leases; default host-pid-random.
	Owner string
	// LeaseTTL is how long a run stays owned without a renewal: the time a
	// crashed gateway's runs wait before another takes them. Default 15s.
	LeaseTTL time.Duration
	// StuckAfter is how long a run's job may be running without the run
	// being leased before the reaper takes its executor for dead (it died
	// after fetching the job, before taking the lease, which takes
	// milliseconds). Default four lease TTLs, at least 5s.
	StuckAfter time.Duration
	// StepTimeout bounds a step attempt that sets no timeout_seconds, and a
	// direct execute call. Default 60s.
	StepTimeout time.Duration
	// HealthInterval is how often agents' health endpoints are probed;
	// default 15s, negative disables probing.
	HealthInterval time.Duration
	// RunRetention is how long finished runs are kept: PruneOldRuns
	// deletes those that finished longer ago. Default 0, kept forever.
	RunRetention time.Duration
	// Audit is the audit log, whose records PruneOldRuns deletes once
	// they are older than AuditRetention; nil prunes none.
	Audit platform.AuditStore
	// AuditRetention is how long audit records are kept. Default 0, kept
	// forever.
	AuditRetention time.Duration
	// PruneBatch is the most runs, with their steps, or audit records one
	// transaction of PruneOldRuns deletes, so that a backlog is deleted a
	// bounded batch at a time and never holds the database's locks long.
	// Default 100.
	PruneBatch int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Engine executes runs and direct agent calls.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	agents *picker

	stop context.CancelFunc
	done chan struct{}
}

var (
	_ platform.Orchestrator = (*Engine)(nil)
	_ platform.RunExecutor  = (*Engine)(nil)
)

// New returns an engine; Start begins its health probes.
func New(cfg Config) *Engine {
	cfg.LeaseTTL = cmp.Or(cfg.LeaseTTL, 15*time.Second)
	cfg.StuckAfter = cmp.Or(cfg.StuckAfter, max(4*cfg.LeaseTTL, 5*time.Second))
	cfg.StepTimeout = cmp.Or(cfg.StepTimeout, 60*time.Second)
	cfg.HealthInterval = cmp.Or(cfg.HealthInterval, 15*time.Second)
	cfg.PruneBatch = cmp.Or(cfg.PruneBatch, 100)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	e := &Engine{cfg: cfg, log: cfg.Logger}
	e.agents = newPicker(cfg.Agents, cfg.Now)
	return e
}

// Owner is the name this engine's leases carry.
func (e *Engine) Owner() string { return e.cfg.Owner }

// Start starts probing agents' health in the background until Close.
func (e *Engine) Start() {
	ctx, stop := context.WithCancel(context.Background())
	e.stop = stop
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		if e.cfg.HealthInterval > 0 {
			e.probeLoop(ctx)
		}
	}()
}

// Close stops the health probes. Runs in flight are stopped by the queue.
func (e *Engine) Close() error {
	if e.stop != nil {
		e.stop()
		<-e.done
	}
	return nil
}

// ReapOrphans requeues the runs whose executors died, holding their lease
// or before taking it; the queue calls it periodically on one replica.
func (e *Engine) ReapOrphans(ctx context.Context) error {
	ids, err := e.cfg.Runs.RequeueOrphans(ctx, e.cfg.Now(), e.cfg.LeaseTTL, e.cfg.StuckAfter)
	if len(ids) > 0 {
		e.log.Info("requeued orphaned runs", "runs", ids)
	}
	return err
}

// PruneOldRuns deletes the runs that finished longer than RunRetention
// ago, then the audit records older than AuditRetention, a batch at a time
// until none is left or ctx ends; the queue calls it periodically on one
// replica.
func (e *Engine) PruneOldRuns(ctx context.Context) error {
	var errs []error
	if e.cfg.RunRetention > 0 {
		errs = append(errs, e.prune(ctx, "finished runs", "runs", "finished_before", e.cfg.RunRetention, e.cfg.Runs.PruneRuns))
	}
	if e.cfg.Audit != nil && e.cfg.AuditRetention > 0 {
		errs = append(errs, e.prune(ctx, "audit records", "records", "written_before", e.cfg.AuditRetention, e.cfg.Audit.PruneAudit))
	}
	return errors.Join(errs...)
}

// prune deletes, by batches of PruneBatch, what is older than retention,
// and logs how many (as unit) it deleted, and the cutoff (as cutoff).
func (e *Engine) prune(ctx context.Context, what, unit, cutoff string, retention time.Duration,
	batch func(ctx context.Context, before time.Time, limit int) (int64, error)) error {
	before := e.cfg.Now().Add(-retention)
	var total int64
	var err error
	for {
		var n int64
		n, err = batch(ctx, before, e.cfg.PruneBatch)
		total += n
		if err != nil || n < int64(e.cfg.PruneBatch) {
			break
		}
	}
	if total > 0 {
		e.log.Info("pruned "+what, unit, total, cutoff, before.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("prune %s older than %s: %w", what, before.UTC().Format(time.RFC3339), err)
	}
	return nil
}
