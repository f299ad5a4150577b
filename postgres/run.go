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
	stepColumns = `step_id, status, agent, attempts, output, error, started_at, finished_at, choice`
)

// CreateRun stores r as queued and enqueues its job in the same
// transaction.
func (db *DB) CreateRun(ctx context.Context, r *platform.Run) error {
	row, err := sqlstore.NewRun(r, db.now())
	if err != nil {
		return err
	}
	err = db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		if _, err := tx.Exec(ctx, `INSERT INTO runs (`+runColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '', false, $8, NULL, NULL, $9, $10, $11)`,
			row.ID, row.Namespace, row.Workflow, nullIfEmpty(row.WorkflowID), row.Status, row.Parameters,
			row.Agents, row.CreatedAt, revisionOrNull(row.WorkflowRevision), row.WorkflowVersion, row.Definition); err != nil {
			return fmt.Errorf("create run: %w", err)
		}
		rec.Event(platform.RunEvent(&row, row.Status, "", row.CreatedAt))
		rec.Job(row.ID)
		rec.Audit(platform.NewRunAudit(ctx, platform.AuditRunCreate, &row, ""))
		return nil
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
	err := db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		var (
			status     platform.RunStatus
			workflowID *string
			run        = &platform.Run{ID: uid, Namespace: namespace}
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
				rec.Event(platform.RunEvent(run, platform.RunCancelled, sqlstore.CancelledBeforeStart, now))
				rec.Audit(platform.NewRunAudit(ctx, platform.AuditRunCancel, run, platform.AuditCancelledQueued))
			}
		case platform.RunRunning:
			_, err = tx.Exec(ctx, `UPDATE runs SET cancel_requested = true WHERE id = $1`, uid)
			rec.Audit(platform.NewRunAudit(ctx, platform.AuditRunCancel, run, platform.AuditCancelRequested))
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
	err := db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		var (
			status     platform.RunStatus
			holder     *string
			held       *time.Time
			workflowID *string
			run        = &platform.Run{ID: uid}
		)
		// The row lock makes executors racing for one run take turns, so
		// the check and the update below act as one compare-and-swap.
		err := tx.QueryRow(ctx, `SELECT status, lease_owner, lease_until, namespace, workflow, workflow_id, created_at
			FROM runs WHERE id = $1 FOR UPDATE`, uid).Scan(&status, &holder, &held, &run.Namespace, &run.Workflow, &workflowID, &run.CreatedAt)
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
				rec.Event(platform.RunEvent(run, platform.RunRunning, "", now))
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
	return db.leaseChange(ctx, runID, owner, fmt.Sprintf("save step %q of run %q", s.ID, runID),
		func(uid string, rec *sqlstore.Recorder) (string, []any) {
			// The statement completes the event from the run's row.
			rec.Event(platform.StepEvent(&platform.Run{ID: uid}, s, db.timestamp()))
			return `lease AS (SELECT id, namespace, workflow, workflow_id, started_at FROM runs
					WHERE id = $1 AND lease_owner = $2 FOR UPDATE),
				saved AS (INSERT INTO run_steps (run_id, ` + stepColumns + `)
					SELECT id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM lease
					ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, agent = excluded.agent,
						attempts = excluded.attempts, output = excluded.output, error = excluded.error,
						started_at = excluded.started_at, finished_at = excluded.finished_at, choice = excluded.choice
					RETURNING run_id),
				written AS (SELECT lease.* FROM lease, saved)`,
				[]any{uid, owner, s.ID, s.Status, s.Agent, s.Attempts, jsonOrNull(s.Output), s.Error, s.StartedAt, s.FinishedAt,
					jsonOrNull(sqlstore.ChoiceJSON(s.Choice))}
		})
}

// FinishRun records the run's outcome and frees its lease, in one
// statement.
func (db *DB) FinishRun(ctx context.Context, runID, owner string, status platform.RunStatus, output json.RawMessage, msg string) error {
	if err := sqlstore.CheckFinish(status, output); err != nil {
		return err
	}
	return db.leaseChange(ctx, runID, owner, fmt.Sprintf("finish run %q", runID),
		func(uid string, rec *sqlstore.Recorder) (string, []any) {
			// The statement completes the event from the run's row,
			// duration included.
			now := db.timestamp()
			rec.Event(platform.RunEvent(&platform.Run{ID: uid}, status, msg, now))
			return `written AS (UPDATE runs SET status = $3, output = $4, error = $5, finished_at = $6,
					lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2
					RETURNING id, namespace, workflow, workflow_id, started_at)`,
				[]any{uid, owner, status, jsonOrNull(output), msg, now}
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
	err = db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
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
			rec.Job(id)
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
	if err != nil || wrote {
		return err
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

// leaseChange makes a change of a leased run in one statement, one round
// trip, with a recorder as change has: stmt records on it and returns the
// statement's data-modifying CTEs (after WITH) and their arguments. The
// last CTE, named written, returns the run's row (id, namespace, workflow,
// workflow_id, started_at) when owner holds the lease, and nothing
// otherwise. leaseChange appends to the statement the writes of what stmt
// recorded, completed from that row (leaseSink), and tells a missing run
// from a lost lease as leaseWrite does; what names the change in errors.
func (db *DB) leaseChange(ctx context.Context, id, owner, what string,
	stmt func(uid string, rec *sqlstore.Recorder) (string, []any)) error {
	var rec sqlstore.Recorder
	err := db.leaseWrite(ctx, id, owner, func(uid string) (bool, error) {
		with, args := stmt(uid, &rec)
		st := &leaseSink{with: with, args: args}
		if err := rec.Flush(ctx, st); err != nil {
			return false, err
		}
		var written int
		if err := db.pool.QueryRow(ctx, `WITH `+st.with+` SELECT count(*) FROM written`, st.args...).Scan(&written); err != nil {
			return false, fmt.Errorf("%s: %w", what, err)
		}
		return written > 0, nil
	})
	if err != nil {
		return err
	}
	db.committed(&rec)
	return nil
}

// leaseSink flushes what a leaseChange recorded into its statement, as
// data-modifying CTEs that write once per row of written, taking from it
// what only the run's row knows.
type leaseSink struct {
	with string
	args []any
}

func (s *leaseSink) arg(v any) string {
	s.args = append(s.args, v)
	return "$" + strconv.Itoa(len(s.args))
}

// Events inserts the events, completed from the run's row: their namespace
// and run_id, the workflow and workflow_id members of their data (the
// latter left out for an inline workflow, as Go leaves it out), and, for a
// terminal run event of a run that started, duration_ms from started_at to
// the event's time, in milliseconds to the microsecond as platform.RunEvent
// has it.
func (s *leaseSink) Events(_ context.Context, events []platform.Event) error {
	rows := make([]string, len(events))
	for i, e := range events {
		rows[i] = "(" + s.arg(i) + "::int, " + s.arg(e.Type) + "::text, " + s.arg(e.Time) + "::timestamptz, " +
			s.arg(e.Stream()) + "::text, " + s.arg(e.Agent) + "::text, " + s.arg(e.Data) + "::jsonb, " +
			s.arg(e.Terminal()) + "::boolean)"
	}
	s.with += `,
		recorded AS (INSERT INTO events (namespace, type, time, stream, agent, run_id, data)
			SELECT w.namespace, e.type, e.time, e.stream, e.agent, w.id, (e.data
				|| jsonb_strip_nulls(jsonb_build_object('workflow', w.workflow, 'workflow_id', w.workflow_id))
				|| CASE WHEN e.terminal AND w.started_at IS NOT NULL THEN jsonb_build_object('duration_ms',
					round((extract(epoch FROM greatest(e.time - w.started_at, interval '0')) * 1000)::numeric, 3))
					ELSE '{}'::jsonb END)::json
			FROM written w, (VALUES ` + strings.Join(rows, ", ") + `) AS e (n, type, time, stream, agent, data, terminal)
			ORDER BY e.n)`
	return nil
}

// Audit refuses: the changes of a leased run are the engine's, which are
// not audited (platform.AuditAgentCreate and its kin say which are).
func (s *leaseSink) Audit(context.Context, []platform.AuditRecord) error {
	return errors.New("a change of a leased run made in one statement is not audited")
}

// Jobs refuses: River enqueues in statements of its own, which a change
// made in one statement has no room for.
func (s *leaseSink) Jobs(context.Context, []string) error {
	return errors.New("a change of a leased run made in one statement cannot enqueue runs")
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
		var (
			s      platform.StepRun
			choice []byte
		)
		if err := row.Scan(&s.ID, &s.Status, &s.Agent, &s.Attempts, &s.Output, &s.Error, &s.StartedAt, &s.FinishedAt, &choice); err != nil {
			return nil, err
		}
		var err error
		if s.Choice, err = sqlstore.ParseChoice(choice); err != nil {
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
