// Package queue is the durable job queue runs advance through: River, on
// whichever database the store uses (riversqlite or riverpgxv5). A run is
// one job; the job calls the engine, which checkpoints every step in the
// store, so a job that is run again after a crash picks up where the last
// attempt stopped. A periodic job on the elected leader requeues the runs
// of executors that died (see platform.RunLedger.RequeueOrphans), and
// another deletes old finished runs (platform.RunLedger.PruneRuns).
package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ossa-platform/platform"
)

// RunArgs is the job that executes one run.
type RunArgs struct {
	RunID string `json:"run_id"`
}

// Kind names the job kind in River's tables.
func (RunArgs) Kind() string { return "ossa.run" }

// InsertOpts gives run jobs many attempts: an attempt fails only when the
// database or the engine itself fails, never because a step did.
func (RunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 100}
}

// ReapArgs is the periodic job that requeues orphaned runs.
type ReapArgs struct{}

// Kind names the job kind in River's tables.
func (ReapArgs) Kind() string { return "ossa.reap" }

// PruneArgs is the periodic job that deletes old finished runs.
type PruneArgs struct{}

// Kind names the job kind in River's tables.
func (PruneArgs) Kind() string { return "ossa.prune" }

// Config configures a Queue.
type Config struct {
	// Executor executes runs. Nil makes an insert-only queue, which
	// enqueues runs for other replicas but works none.
	Executor platform.RunExecutor
	// Workers is how many runs one replica executes at once. Default 100.
	Workers int
	// ReapEvery is how often the leader looks for orphaned runs. Default 5s.
	ReapEvery time.Duration
	// PruneEvery is how often the leader deletes the finished runs older
	// than the executor's retention (and once when it starts). Default 1h.
	PruneEvery time.Duration
	// RescueAfter is River's RescueStuckJobsAfter: how long a job with a
	// timeout may run before River's rescuer retries or finalizes it. Run
	// jobs have no timeout (a run lasts as long as its workflow), and River
	// never rescues those; the run's lease is their heartbeat, and the
	// reaper (RunLedger.RequeueOrphans) requeues a run whose job a dead
	// gateway held, asking River to cancel that job. The rescuer then
	// finalizes the cancelled job once it has been running this long, and
	// retries a reaper job that died with its leader. Default 1m; River
	// checks every 30s.
	RescueAfter time.Duration
	// PollOnly makes the client poll for jobs instead of listening for
	// notifications; the SQLite driver needs it.
	PollOnly bool
	// FetchPollInterval is how often a polling client looks for new jobs.
	// Default 100ms for SQLite-style polling, River's 1s otherwise.
	FetchPollInterval time.Duration
	Logger            *slog.Logger
}

// Queue is a River client that executes runs.
type Queue[TTx any] struct {
	client  *river.Client[TTx]
	working bool
}

// Migrate applies River's own migrations through driver.
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], logger *slog.Logger) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(logger)})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// New returns a queue on driver; Start starts working it.
func New[TTx any](driver riverdriver.Driver[TTx], cfg Config) (*Queue[TTx], error) {
	rc := &river.Config{
		Logger:        quiet(cfg.Logger),
		PollOnly:      cfg.PollOnly,
		JobTimeout:    -1, // the engine enforces the workflow's own timeouts
		MaxAttempts:   100,
		FetchCooldown: 20 * time.Millisecond,
		// River's own default is an hour: a run whose job a dead gateway
		// had fetched but not yet leased would wait that long.
		RescueStuckJobsAfter: cmp.Or(cfg.RescueAfter, time.Minute),
	}
	if cfg.FetchPollInterval > 0 {
		rc.FetchPollInterval = cfg.FetchPollInterval
	} else if cfg.PollOnly {
		rc.FetchPollInterval = 100 * time.Millisecond
	}
	q := &Queue[TTx]{working: cfg.Executor != nil}
	if q.working {
		workers := river.NewWorkers()
		river.AddWorker(workers, &runWorker{exec: cfg.Executor})
		river.AddWorker(workers, &reapWorker{exec: cfg.Executor})
		river.AddWorker(workers, &pruneWorker{exec: cfg.Executor})
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmp.Or(cfg.Workers, 100)}}
		every := cmp.Or(cfg.ReapEvery, 5*time.Second)
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) {
				return ReapArgs{}, &river.InsertOpts{MaxAttempts: 1}
			}, &river.PeriodicJobOpts{ID: "ossa.reap", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cmp.Or(cfg.PruneEvery, time.Hour)),
				func() (river.JobArgs, *river.InsertOpts) {
					return PruneArgs{}, &river.InsertOpts{MaxAttempts: 1}
				}, &river.PeriodicJobOpts{ID: "ossa.prune", RunOnStart: true})}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, err
	}
	q.client = client
	return q, nil
}

// Start starts working jobs, when the queue has an executor.
func (q *Queue[TTx]) Start(ctx context.Context) error {
	if !q.working {
		return nil
	}
	return q.client.Start(ctx)
}

// Stop stops fetching jobs and cancels the ones running: the engine gives
// their runs' leases back, and another replica, or this one after a
// restart, takes them up again from their last checkpoint.
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	if !q.working {
		return nil
	}
	err := q.client.StopAndCancel(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// EnqueueTx enqueues the runs inside tx, in one insert, so the runs and
// their jobs are stored together or not at all.
func (q *Queue[TTx]) EnqueueTx(ctx context.Context, tx TTx, runIDs ...string) error {
	if len(runIDs) == 0 {
		return nil
	}
	jobs := make([]river.InsertManyParams, len(runIDs))
	for i, id := range runIDs {
		jobs[i] = river.InsertManyParams{Args: RunArgs{RunID: id}}
	}
	_, err := q.client.InsertManyTx(ctx, tx, jobs)
	return err
}

// CancelTx asks River, inside tx, to cancel the job with that ID. A job
// that is running is marked for cancellation: its client, if alive,
// cancels its context; if its client died, River's rescuer finalizes it as
// cancelled once it has been running longer than RescueAfter.
func (q *Queue[TTx]) CancelTx(ctx context.Context, tx TTx, jobID int64) error {
	_, err := q.client.JobCancelTx(ctx, tx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil
	}
	return err
}

type runWorker struct {
	river.WorkerDefaults[RunArgs]
	exec platform.RunExecutor
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	return w.exec.ExecuteRun(ctx, job.Args.RunID)
}

// Timeout is none: a run's own timeout_seconds bounds it.
func (w *runWorker) Timeout(*river.Job[RunArgs]) time.Duration { return -1 }

// NextRetry retries an attempt that failed for want of the database soon,
// with a gentle backoff capped at 30 seconds.
func (w *runWorker) NextRetry(job *river.Job[RunArgs]) time.Time {
	d := time.Duration(job.Attempt) * time.Second
	return time.Now().Add(min(d, 30*time.Second))
}

type reapWorker struct {
	river.WorkerDefaults[ReapArgs]
	exec platform.RunExecutor
}

func (w *reapWorker) Work(ctx context.Context, _ *river.Job[ReapArgs]) error {
	return w.exec.ReapOrphans(ctx)
}

// Timeout bounds one pass of the reaper, which takes a few queries, so that
// River's rescuer can finalize the job of a leader that died in the middle
// of one (River never rescues a job without a timeout).
func (w *reapWorker) Timeout(*river.Job[ReapArgs]) time.Duration { return time.Minute }

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	exec platform.RunExecutor
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	return w.exec.PruneOldRuns(ctx)
}

// Timeout bounds one pass: a backlog left when it ends (each batch is
// committed as it goes) is pruned by the next.
func (w *pruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return 10 * time.Minute }

// quiet keeps River's own logs at warning and above.
func quiet(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(attrs), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}
