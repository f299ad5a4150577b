package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
	"github.com/ossa-platform/platform/queue"
)

// runListColumns are what a listed run carries; runColumns add the
// definition, which can be large and only an executed run needs.
const (
	runListColumns = `id, namespace, workflow, workflow_id, status, parameters, agents, output, error,
	cancel_requested, created_at, started_at, finished_at, workflow_revision, workflow_version`
	runColumns  = runListColumns + `, definition`
	stepColumns = `step_id, status, agent, attempts, output, error, started_at, finished_at`
)

// CreateRun stores r as queued and enqueues its job in the same
// transaction.
func (db *DB) CreateRun(ctx context.Context, r *platform.Run) error {
	row, err := sqlstore.NewRun(r, db.now())
	if err != nil {
		return err
	}
	q, err := db.queue.Get()
	if err != nil {
		return err
	}
	err = db.change(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO runs (`+runColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', false, $8, NULL, NULL, $9, $10, $11)`,
			row.ID, row.Namespace, row.Workflow, nullIfEmpty(row.WorkflowID), row.Status, row.Parameters,
			row.Agents, row.CreatedAt, revisionOrNull(row.WorkflowRevision), row.WorkflowVersion, row.Definition); err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		if err := insertEvent(ctx, tx, platform.RunEvent(&row, row.Status, "", row.CreatedAt)); err != nil {
			return err
		}
		return enqueue(ctx, q, tx, row.ID)
	})
	if err != nil {
		return err
	}
	*r = row
	return nil
}

// FindRun returns the run with its steps in start order.
func (db *DB) FindRun(ctx context.Context, namespace, id string) (*platform.Run, error) {
	uid, ok := sqlstore.ParseID(id)
	if !ok {
		return nil, sqlstore.RunNotFound(id)
	}
	r, err := findRun(ctx, db.pool, `namespace = $1 AND id = $2`, namespace, uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sqlstore.RunNotFound(id)
	}
	return r, err
}

// ListRuns returns one page of a namespace's runs, newest first, without
// their steps and definitions.
func (db *DB) ListRuns(ctx context.Context, f platform.RunFilter) (platform.RunPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	after, err := sqlstore.Cursor(f.After)
	if err != nil {
		return platform.RunPage{}, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"namespace = " + arg(f.Namespace)}
	if after != "" {
		where = append(where, "id < "+arg(after)+"::uuid")
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if f.Workflow != "" {
		where = append(where, "workflow = "+arg(f.Workflow))
	}
	rows, err := db.pool.Query(ctx, `SELECT `+runListColumns+` FROM runs WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT `+arg(limit+1), args...)
	if err != nil {
		return platform.RunPage{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*platform.Run, error) { return scanRun(r, false) })
	if err != nil {
		return platform.RunPage{}, err
	}
	var page platform.RunPage
	page.Items, page.Next = sqlstore.Page(items, limit, func(r *platform.Run) string { return r.ID })
	return page, nil
}

// workflowMembers are the members the events of a run's changes made in
// SQL take from the run's row (workflow, workflow_id), as a jsonb object:
// workflow_id is left out for an inline workflow, as Go leaves it out.
const workflowMembers = `jsonb_strip_nulls(jsonb_build_object('workflow', workflow, 'workflow_id', workflow_id))`

// CountRuns counts the namespace's queued and running runs and finds
// the oldest queued one, from the runs_namespace_status_id index; across
// namespaces, from the queued and running entries of
// runs_status_lease_until (min, not ORDER BY id, which could walk the
// primary key through every finished run).
func (db *DB) CountRuns(ctx context.Context, namespace string) (platform.RunCounts, error) {
	var (
		c      platform.RunCounts
		oldest *time.Time
	)
	query, args := `SELECT
		(SELECT count(*) FROM runs WHERE namespace = $1 AND status = $2),
		(SELECT count(*) FROM runs WHERE namespace = $1 AND status = $3),
		(SELECT created_at FROM runs WHERE namespace = $1 AND status = $2 ORDER BY id LIMIT 1)`,
		[]any{namespace, platform.RunQueued, platform.RunRunning}
	if namespace == platform.AllNamespaces {
		query, args = `SELECT
		(SELECT count(*) FROM runs WHERE status = $1),
		(SELECT count(*) FROM runs WHERE status = $2),
		(SELECT min(created_at) FROM runs WHERE status = $1)`, args[1:]
	}
	err := db.pool.QueryRow(ctx, query, args...).Scan(&c.Queued, &c.Running, &oldest)
	if err != nil {
		return platform.RunCounts{}, fmt.Errorf("count runs: %w", err)
	}
	if oldest != nil {
		c.OldestQueued = oldest.UTC()
	}
	return c, nil
}

// CancelRun cancels a queued run at once and asks a running one to stop.
func (db *DB) CancelRun(ctx context.Context, namespace, id string) (*platform.Run, error) {
	uid, ok := sqlstore.ParseID(id)
	if !ok {
		return nil, sqlstore.RunNotFound(id)
	}
	var out *platform.Run
	err := db.change(ctx, func(tx pgx.Tx) error {
		var (
			status     platform.RunStatus
			workflowID *string
			run        = &platform.Run{ID: uid}
		)
		err := tx.QueryRow(ctx, `SELECT status, workflow, workflow_id FROM runs WHERE namespace = $1 AND id = $2 FOR UPDATE`,
			namespace, uid).Scan(&status, &run.Workflow, &workflowID)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlstore.RunNotFound(id)
		}
		if err != nil {
			return err
		}
		switch status {
		case platform.RunQueued:
			now := db.timestamp()
			_, err = tx.Exec(ctx, `UPDATE runs SET status = $2, error = $3, finished_at = $4,
				lease_owner = NULL, lease_until = NULL WHERE id = $1`,
				uid, platform.RunCancelled, sqlstore.CancelledBeforeStart, now)
			if err == nil {
				run.WorkflowID = deref(workflowID)
				err = insertEvent(ctx, tx, platform.RunEvent(run, platform.RunCancelled, sqlstore.CancelledBeforeStart, now))
			}
		case platform.RunRunning:
			_, err = tx.Exec(ctx, `UPDATE runs SET cancel_requested = true WHERE id = $1`, uid)
		}
		if err != nil {
			return fmt.Errorf("cancel run %q: %w", id, err)
		}
		out, err = findRun(ctx, tx, `id = $1`, uid)
		return err
	})
	return out, err
}

// AcquireRun takes the run's lease for owner until the given time, unless
// another owner's lease is live, and marks the run running.
func (db *DB) AcquireRun(ctx context.Context, id, owner string, until time.Time) (*platform.Run, error) {
	if err := sqlstore.CheckOwner(owner); err != nil {
		return nil, err
	}
	uid, ok := sqlstore.ParseID(id)
	if !ok {
		return nil, sqlstore.RunNotFound(id)
	}
	var out *platform.Run
	err := db.change(ctx, func(tx pgx.Tx) error {
		var (
			status     platform.RunStatus
			holder     *string
			held       *time.Time
			workflowID *string
			run        = &platform.Run{ID: uid}
		)
		// The row lock makes executors racing for one run take turns, so
		// the check and the update below act as one compare-and-swap.
		err := tx.QueryRow(ctx, `SELECT status, lease_owner, lease_until, workflow, workflow_id, created_at
			FROM runs WHERE id = $1 FOR UPDATE`, uid).Scan(&status, &holder, &held, &run.Workflow, &workflowID, &run.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlstore.RunNotFound(id)
		}
		if err != nil {
			return err
		}
		if !status.Terminal() {
			now := db.timestamp()
			if !sqlstore.CanAcquire(deref(holder), held, owner, now) {
				return sqlstore.LeaseHeld(id)
			}
			if _, err := tx.Exec(ctx, `UPDATE runs SET status = $2, lease_owner = $3, lease_until = $4,
				started_at = coalesce(started_at, $5) WHERE id = $1`,
				uid, platform.RunRunning, owner, until, now); err != nil {
				return fmt.Errorf("acquire run %q: %w", id, err)
			}
			if status == platform.RunQueued {
				run.WorkflowID = deref(workflowID)
				if err := insertEvent(ctx, tx, platform.RunEvent(run, platform.RunRunning, "", now)); err != nil {
					return err
				}
			}
		}
		out, err = findRun(ctx, tx, `id = $1`, uid)
		return err
	})
	return out, err
}

// RenewRun extends owner's lease.
func (db *DB) RenewRun(ctx context.Context, id, owner string, until time.Time) (bool, error) {
	var cancel bool
	err := db.leaseWrite(ctx, id, owner, func(uid string) (bool, error) {
		err := db.pool.QueryRow(ctx, `UPDATE runs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2
			RETURNING cancel_requested`, uid, owner, until).Scan(&cancel)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	return cancel, err
}

// SaveStep inserts or replaces the state of one step; a replaced step
// keeps its place in start order. It is one statement: the lease check
// locks the run's row, so a takeover and a save of the old owner cannot
// interleave.
func (db *DB) SaveStep(ctx context.Context, runID, owner string, s *platform.StepRun) error {
	if err := sqlstore.CheckStep(s); err != nil {
		return err
	}
	return db.leaseWrite(ctx, runID, owner, func(uid string) (bool, error) {
		// The event's data gains the run's workflow, which only the row
		// knows.
		e := platform.StepEvent(&platform.Run{ID: uid}, s, db.timestamp())
		var saved int
		err := db.pool.QueryRow(ctx, `WITH lease AS (SELECT id, workflow, workflow_id FROM runs
				WHERE id = $1 AND lease_owner = $2 FOR UPDATE),
			saved AS (INSERT INTO run_steps (run_id, `+stepColumns+`)
				SELECT id, $3, $4, $5, $6, $7, $8, $9, $10 FROM lease
				ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, agent = excluded.agent,
					attempts = excluded.attempts, output = excluded.output, error = excluded.error,
					started_at = excluded.started_at, finished_at = excluded.finished_at
				RETURNING run_id),
			event AS (INSERT INTO events (type, time, stream, agent, run_id, data)
				SELECT $11, $12, 'run', $5, run_id, ($13::jsonb || `+workflowMembers+`)::json FROM saved, lease)
			SELECT count(*) FROM saved`,
			uid, owner, s.ID, s.Status, s.Agent, s.Attempts, jsonOrNull(s.Output), s.Error, s.StartedAt, s.FinishedAt,
			e.Type, e.Time, e.Data).Scan(&saved)
		if err != nil {
			return false, fmt.Errorf("save step %q of run %q: %w", s.ID, runID, err)
		}
		return saved > 0, nil
	})
}

// FinishRun records the run's outcome and frees its lease.
func (db *DB) FinishRun(ctx context.Context, runID, owner string, status platform.RunStatus, output json.RawMessage, msg string) error {
	if err := sqlstore.CheckFinish(status, output); err != nil {
		return err
	}
	return db.leaseWrite(ctx, runID, owner, func(uid string) (bool, error) {
		// The event's data gains the run's workflow and duration, which
		// only the row knows; the duration is in milliseconds to the
		// microsecond, as platform.RunEvent has it.
		now := db.timestamp()
		e := platform.RunEvent(&platform.Run{ID: uid}, status, msg, now)
		var finished int
		err := db.pool.QueryRow(ctx, `WITH done AS (UPDATE runs SET status = $3, output = $4, error = $5, finished_at = $6,
				lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2
				RETURNING id, workflow, workflow_id, started_at),
			event AS (INSERT INTO events (type, time, stream, agent, run_id, data)
				SELECT $7, $6, 'run', '', id, ($8::jsonb || `+workflowMembers+` || CASE WHEN started_at IS NULL THEN '{}'::jsonb
					ELSE jsonb_build_object('duration_ms', round((extract(epoch FROM greatest($6 - started_at, interval '0')) * 1000)::numeric, 3))
					END)::json FROM done)
			SELECT count(*) FROM done`,
			uid, owner, status, jsonOrNull(output), msg, now, e.Type, e.Data).Scan(&finished)
		if err != nil {
			return false, fmt.Errorf("finish run %q: %w", runID, err)
		}
		return finished > 0, nil
	})
}

// RequeueOrphans enqueues again the unfinished runs whose lease expired
// before now, and the queued runs nobody leases whose job has been running
// since before now-stuck; it leases them to sqlstore.RequeueOwner until
// now+grace and asks River to cancel their dead executors' jobs. SKIP
// LOCKED leaves runs another transaction is changing (an executor
// acquiring one, or another replica's scan) to the next scan.
func (db *DB) RequeueOrphans(ctx context.Context, now time.Time, grace, stuck time.Duration) ([]string, error) {
	q, err := db.queue.Get()
	if err != nil {
		return nil, err
	}
	kind := queue.RunArgs{}.Kind()
	var ids []string
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text FROM runs WHERE status IN `+sqlstore.Unfinished+`
			AND lease_until < $1 ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED`, now, sqlstore.RequeueBatch)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		// The scan starts from River's running jobs, which are few, not
		// from the runs, which may be a long backlog.
		rows, err = tx.Query(ctx, `SELECT id::text FROM runs WHERE id IN (
				SELECT (args->>'run_id')::uuid FROM river_job WHERE kind = $1 AND state = 'running' AND attempted_at < $2)
			AND status = $3 AND lease_owner IS NULL LIMIT $4 FOR UPDATE SKIP LOCKED`,
			kind, now.Add(-stuck), platform.RunQueued, sqlstore.RequeueBatch-len(ids))
		if err != nil {
			return err
		}
		fetched, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		ids = append(ids, fetched...)
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT id FROM river_job WHERE kind = $1 AND state = 'running'
			AND args->>'run_id' = ANY($2::text[])`, kind, ids)
		if err != nil {
			return err
		}
		stale, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := enqueue(ctx, q, tx, id); err != nil {
				return err
			}
		}
		for _, job := range stale {
			if err := q.CancelTx(ctx, tx, job); err != nil {
				return fmt.Errorf("cancel the job of a dead executor: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET lease_owner = $2, lease_until = $3 WHERE id = ANY($1::uuid[])`,
			ids, sqlstore.RequeueOwner, now.Add(grace)); err != nil {
			return fmt.Errorf("requeue runs: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// PruneRuns deletes up to limit runs that finished before before, oldest
// first; their steps go with them (run_steps' foreign key cascades). SKIP
// LOCKED leaves a run another transaction holds to the next call.
func (db *DB) PruneRuns(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM runs WHERE id IN (SELECT id FROM runs
		WHERE status IN `+sqlstore.Finished+` AND finished_at < $1 ORDER BY finished_at, id LIMIT $2
		FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("prune runs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PendingRunJobs returns the run IDs of the run jobs River has not finished
// (completed, cancelled or discarded), oldest job first. It is for tests
// and operations: the queue is River's, and only River should change it.
func (db *DB) PendingRunJobs(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT args->>'run_id' FROM river_job
		WHERE kind = $1 AND finalized_at IS NULL ORDER BY id`, queue.RunArgs{}.Kind())
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if ids == nil && err == nil {
		ids = []string{}
	}
	return ids, err
}

// leaseWrite runs write, one statement whose WHERE requires that owner
// holds the lease of run id, and reports whether it wrote; when it did
// not, it tells a missing run (ENOTFOUND) from a lost lease (ECONFLICT).
// Only the owner is checked, not the lease's expiry: another executor
// takes an expired lease through AcquireRun, after which this owner's
// writes are refused.
func (db *DB) leaseWrite(ctx context.Context, id, owner string, write func(uid string) (bool, error)) error {
	uid, ok := sqlstore.ParseID(id)
	if !ok {
		return sqlstore.RunNotFound(id)
	}
	if owner == "" || owner == sqlstore.RequeueOwner {
		return sqlstore.LeaseLost(id, owner)
	}
	wrote, err := write(uid)
	if err != nil {
		return err
	}
	if wrote {
		db.committed()
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)`, uid).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return sqlstore.RunNotFound(id)
	}
	return sqlstore.LeaseLost(id, owner)
}

func enqueue(ctx context.Context, q *queue.Queue[pgx.Tx], tx pgx.Tx, runID string) error {
	if err := q.EnqueueTx(ctx, tx, runID); err != nil {
		return fmt.Errorf("enqueue run %q: %w", runID, err)
	}
	return nil
}

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// findRun reads the one run cond (on runs' columns) selects, with its
// steps, or returns pgx.ErrNoRows.
func findRun(ctx context.Context, q querier, cond string, args ...any) (*platform.Run, error) {
	r, err := scanRun(q.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE `+cond, args...), true)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT `+stepColumns+` FROM run_steps WHERE run_id = $1 ORDER BY seq`, r.ID)
	if err != nil {
		return nil, err
	}
	r.Steps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*platform.StepRun, error) {
		var s platform.StepRun
		if err := row.Scan(&s.ID, &s.Status, &s.Agent, &s.Attempts, &s.Output, &s.Error, &s.StartedAt, &s.FinishedAt); err != nil {
			return nil, err
		}
		s.StartedAt, s.FinishedAt = utc(s.StartedAt), utc(s.FinishedAt)
		return &s, nil
	})
	if r.Steps == nil {
		r.Steps = []*platform.StepRun{}
	}
	return r, err
}

// scanRun reads one run, with its definition when the row has runColumns.
func scanRun(row pgx.Row, withDefinition bool) (*platform.Run, error) {
	var (
		r          platform.Run
		workflowID *string
		revision   *int
	)
	dest := []any{&r.ID, &r.Namespace, &r.Workflow, &workflowID, &r.Status, &r.Parameters, &r.Agents, &r.Output,
		&r.Error, &r.CancelRequested, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &revision, &r.WorkflowVersion}
	if withDefinition {
		dest = append(dest, &r.Definition)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.WorkflowID = deref(workflowID)
	if revision != nil {
		r.WorkflowRevision = *revision
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.StartedAt, r.FinishedAt = utc(r.StartedAt), utc(r.FinishedAt)
	return &r, nil
}

// utc is *t in UTC, nil for nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// revisionOrNull is a run's workflow revision, NULL for none (an inline
// workflow).
func revisionOrNull(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// nullIfEmpty is s, NULL when empty.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonOrNull is b, NULL when empty.
func jsonOrNull(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
