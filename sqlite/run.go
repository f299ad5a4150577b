package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

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
	err = db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO runs (`+runColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', 0, ?, NULL, NULL, ?, ?, ?)`,
			row.ID, row.Namespace, row.Workflow, row.WorkflowID, row.Status, string(row.Parameters),
			encodeJSON(row.Agents), row.CreatedAt.UnixMicro(), revisionOrNull(row.WorkflowRevision), row.WorkflowVersion,
			string(row.Definition)); err != nil {
			return translate(err)
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
	r, err := findRun(ctx, db.db, `namespace = ? AND id = ?`, namespace, uid)
	if errors.Is(err, sql.ErrNoRows) {
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
	where, args := []string{"namespace = ?"}, []any{f.Namespace}
	if after != "" {
		where, args = append(where, "id < ?"), append(args, after)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Workflow != "" {
		where, args = append(where, "workflow = ?"), append(args, f.Workflow)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+runListColumns+` FROM runs WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return platform.RunPage{}, err
	}
	defer rows.Close()
	var items []*platform.Run
	for rows.Next() {
		r, err := scanRun(rows, false)
		if err != nil {
			return platform.RunPage{}, err
		}
		items = append(items, r)
	}
	if err := rows.Err(); err != nil {
		return platform.RunPage{}, err
	}
	var page platform.RunPage
	page.Items, page.Next = sqlstore.Page(items, limit, func(r *platform.Run) string { return r.ID })
	return page, nil
}

// CountRuns counts the namespace's queued and running runs and finds
// the oldest queued one, from the runs_namespace_status_id index; across
// namespaces, from the queued and running entries of
// runs_status_lease_until.
func (db *DB) CountRuns(ctx context.Context, namespace string) (platform.RunCounts, error) {
	var (
		c      platform.RunCounts
		oldest sql.NullInt64
	)
	query := `SELECT
		(SELECT count(*) FROM runs WHERE namespace = ?1 AND status = ?2),
		(SELECT count(*) FROM runs WHERE namespace = ?1 AND status = ?3),
		(SELECT created_at FROM runs WHERE namespace = ?1 AND status = ?2 ORDER BY id LIMIT 1)`
	if namespace == platform.AllNamespaces {
		query = `SELECT
		(SELECT count(*) FROM runs WHERE status = ?2),
		(SELECT count(*) FROM runs WHERE status = ?3),
		(SELECT min(created_at) FROM runs WHERE status = ?2)` // ?1 is bound and unused
	}
	err := db.db.QueryRowContext(ctx, query,
		namespace, platform.RunQueued, platform.RunRunning).Scan(&c.Queued, &c.Running, &oldest)
	if err != nil {
		return platform.RunCounts{}, err
	}
	if t := timeOrNil(oldest); t != nil {
		c.OldestQueued = *t
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
	err := db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		var status platform.RunStatus
		run := &platform.Run{ID: uid, Namespace: namespace}
		err := tx.QueryRowContext(ctx, `SELECT status, workflow, workflow_id FROM runs WHERE namespace = ? AND id = ?`, namespace, uid).
			Scan(&status, &run.Workflow, &run.WorkflowID)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlstore.RunNotFound(id)
		}
		if err != nil {
			return err
		}
		switch status {
		case platform.RunQueued:
			now := db.timestamp()
			_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, finished_at = ?,
				lease_owner = NULL, lease_until = NULL WHERE id = ?`,
				platform.RunCancelled, sqlstore.CancelledBeforeStart, now.UnixMicro(), uid)
			if err == nil {
				rec.Event(platform.RunEvent(run, platform.RunCancelled, sqlstore.CancelledBeforeStart, now))
				rec.Audit(platform.NewRunAudit(ctx, platform.AuditRunCancel, run, platform.AuditCancelledQueued))
			}
		case platform.RunRunning:
			_, err = tx.ExecContext(ctx, `UPDATE runs SET cancel_requested = 1 WHERE id = ?`, uid)
			rec.Audit(platform.NewRunAudit(ctx, platform.AuditRunCancel, run, platform.AuditCancelRequested))
		}
		if err != nil {
			return translate(err)
		}
		out, err = findRun(ctx, tx, `id = ?`, uid)
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
	// The transaction takes SQLite's write lock at BEGIN, so the check and
	// the update below cannot interleave with another executor's.
	err := db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		var (
			status  platform.RunStatus
			holder  sql.NullString
			held    sql.NullInt64
			created int64
			run     = &platform.Run{ID: uid}
		)
		err := tx.QueryRowContext(ctx, `SELECT status, lease_owner, lease_until, namespace, workflow, workflow_id, created_at
			FROM runs WHERE id = ?`, uid).Scan(&status, &holder, &held, &run.Namespace, &run.Workflow, &run.WorkflowID, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlstore.RunNotFound(id)
		}
		if err != nil {
			return err
		}
		if !status.Terminal() {
			now := db.now()
			if !sqlstore.CanAcquire(holder.String, timeOrNil(held), owner, now) {
				return sqlstore.LeaseHeld(id)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, lease_owner = ?, lease_until = ?,
				started_at = coalesce(started_at, ?) WHERE id = ?`,
				platform.RunRunning, owner, until.UnixMicro(), now.UnixMicro(), uid); err != nil {
				return translate(err)
			}
			if status == platform.RunQueued {
				run.CreatedAt = time.UnixMicro(created).UTC()
				rec.Event(platform.RunEvent(run, platform.RunRunning, "", now))
			}
		}
		out, err = findRun(ctx, tx, `id = ?`, uid)
		return err
	})
	return out, err
}

// RenewRun extends owner's lease.
func (db *DB) RenewRun(ctx context.Context, id, owner string, until time.Time) (bool, error) {
	var cancel bool
	err := db.withLease(ctx, id, owner, func(tx *sql.Tx, _ *sqlstore.Recorder, uid string) error {
		return tx.QueryRowContext(ctx, `UPDATE runs SET lease_until = ? WHERE id = ? RETURNING cancel_requested`,
			until.UnixMicro(), uid).Scan(&cancel)
	})
	return cancel, err
}

// SaveStep inserts or replaces the state of one step; a replaced step
// keeps its place in start order.
func (db *DB) SaveStep(ctx context.Context, runID, owner string, s *platform.StepRun) error {
	if err := sqlstore.CheckStep(s); err != nil {
		return err
	}
	return db.withLease(ctx, runID, owner, func(tx *sql.Tx, rec *sqlstore.Recorder, uid string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO run_steps (run_id, seq, `+stepColumns+`)
			VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM run_steps WHERE run_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, agent = excluded.agent,
				attempts = excluded.attempts, output = excluded.output, error = excluded.error,
				started_at = excluded.started_at, finished_at = excluded.finished_at, choice = excluded.choice`,
			uid, uid, s.ID, s.Status, s.Agent, s.Attempts, jsonOrNull(s.Output), s.Error,
			microsOrNull(s.StartedAt), microsOrNull(s.FinishedAt), jsonOrNull(sqlstore.ChoiceJSON(s.Choice)))
		if err != nil {
			return translate(err)
		}
		run := &platform.Run{ID: uid}
		if err := tx.QueryRowContext(ctx, `SELECT namespace, workflow, workflow_id FROM runs WHERE id = ?`, uid).
			Scan(&run.Namespace, &run.Workflow, &run.WorkflowID); err != nil {
			return err
		}
		rec.Event(platform.StepEvent(run, s, db.timestamp()))
		return nil
	})
}

// FinishRun records the run's outcome and frees its lease.
func (db *DB) FinishRun(ctx context.Context, runID, owner string, status platform.RunStatus, output json.RawMessage, msg string) error {
	if err := sqlstore.CheckFinish(status, output); err != nil {
		return err
	}
	return db.withLease(ctx, runID, owner, func(tx *sql.Tx, rec *sqlstore.Recorder, uid string) error {
		now := db.timestamp()
		run := &platform.Run{ID: uid}
		var started sql.NullInt64
		err := tx.QueryRowContext(ctx, `UPDATE runs SET status = ?, output = ?, error = ?, finished_at = ?,
			lease_owner = NULL, lease_until = NULL WHERE id = ? RETURNING namespace, workflow, workflow_id, started_at`,
			status, jsonOrNull(output), msg, now.UnixMicro(), uid).Scan(&run.Namespace, &run.Workflow, &run.WorkflowID, &started)
		if err != nil {
			return translate(err)
		}
		run.StartedAt = timeOrNil(started)
		rec.Event(platform.RunEvent(run, status, msg, now))
		return nil
	})
}

// RequeueOrphans enqueues again the unfinished runs whose lease expired
// before now, and the queued runs nobody leases whose job has been running
// since before now-stuck; it leases them to sqlstore.RequeueOwner until
// now+grace and asks River to cancel their dead executors' jobs.
func (db *DB) RequeueOrphans(ctx context.Context, now time.Time, grace, stuck time.Duration) ([]string, error) {
	q, err := db.queue.Get()
	if err != nil {
		return nil, err
	}
	kind := queue.RunArgs{}.Kind()
	var ids []string
	err = db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE status IN `+sqlstore.Unfinished+`
			AND lease_until < ? ORDER BY lease_until LIMIT ?`, now.UnixMicro(), sqlstore.RequeueBatch)
		if err != nil {
			return err
		}
		if ids, err = scanStrings(rows); err != nil {
			return err
		}
		// River keeps SQLite times as text in this one layout, which
		// compares in time order.
		rows, err = tx.QueryContext(ctx, `SELECT id FROM runs WHERE id IN (
				SELECT json_extract(args, '$.run_id') FROM river_job WHERE kind = ? AND state = 'running' AND attempted_at < ?)
			AND status = ? AND lease_owner IS NULL LIMIT ?`,
			kind, now.Add(-stuck).UTC().Format("2006-01-02 15:04:05.000"), platform.RunQueued, sqlstore.RequeueBatch-len(ids))
		if err != nil {
			return err
		}
		fetched, err := scanStrings(rows)
		if err != nil {
			return err
		}
		ids = append(ids, fetched...)
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			rec.Job(id)
			stale, err := tx.QueryContext(ctx, `SELECT id FROM river_job WHERE kind = ? AND state = 'running'
				AND json_extract(args, '$.run_id') = ?`, kind, id)
			if err != nil {
				return err
			}
			jobs, err := scanInts(stale)
			if err != nil {
				return err
			}
			for _, job := range jobs {
				if err := q.CancelTx(ctx, tx, job); err != nil {
					return fmt.Errorf("cancel the job of a dead executor: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET lease_owner = ?, lease_until = ? WHERE id = ?`,
				sqlstore.RequeueOwner, now.Add(grace).UnixMicro(), id); err != nil {
				return translate(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// PruneRuns deletes up to limit runs that finished before before, oldest
// first; their steps go with them (run_steps' foreign key cascades, and
// DSN turns foreign keys on for every connection).
func (db *DB) PruneRuns(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id IN (SELECT id FROM runs
			WHERE status IN `+sqlstore.Finished+` AND finished_at < ? ORDER BY finished_at, id LIMIT ?)`,
			before.UnixMicro(), limit)
		if err != nil {
			return translate(err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// PendingRunJobs returns the run IDs of the run jobs River has not finished
// (completed, cancelled or discarded), oldest job first. It is for tests
// and operations: the queue is River's, and only River should change it.
func (db *DB) PendingRunJobs(ctx context.Context) ([]string, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT json_extract(args, '$.run_id') FROM river_job
		WHERE kind = ? AND finalized_at IS NULL ORDER BY id`, queue.RunArgs{}.Kind())
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

// withLease runs fn in a transaction if owner holds the lease of run id.
// Only the owner is checked, not the lease's expiry: another executor
// takes an expired lease through AcquireRun, after which this owner's
// writes are refused.
func (db *DB) withLease(ctx context.Context, id, owner string, fn func(tx *sql.Tx, rec *sqlstore.Recorder, uid string) error) error {
	uid, ok := sqlstore.ParseID(id)
	if !ok {
		return sqlstore.RunNotFound(id)
	}
	return db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		var holder sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT lease_owner FROM runs WHERE id = ?`, uid).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlstore.RunNotFound(id)
		}
		if err != nil {
			return err
		}
		if holder.String != owner || owner == "" || owner == sqlstore.RequeueOwner {
			return sqlstore.LeaseLost(id, owner)
		}
		return fn(tx, rec, uid)
	})
}

// findRun reads the one run cond (on runs' columns) selects, with its
// steps, or returns sql.ErrNoRows.
func findRun(ctx context.Context, q querier, cond string, args ...any) (*platform.Run, error) {
	r, err := scanRun(q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+cond, args...), true)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT `+stepColumns+` FROM run_steps WHERE run_id = ? ORDER BY seq`, r.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r.Steps = []*platform.StepRun{}
	for rows.Next() {
		var (
			s                 platform.StepRun
			output, choice    sql.NullString
			started, finished sql.NullInt64
		)
		if err := rows.Scan(&s.ID, &s.Status, &s.Agent, &s.Attempts, &output, &s.Error, &started, &finished, &choice); err != nil {
			return nil, err
		}
		if s.Choice, err = sqlstore.ParseChoice([]byte(choice.String)); err != nil {
			return nil, err
		}
		s.Output, s.StartedAt, s.FinishedAt = rawOrNil(output), timeOrNil(started), timeOrNil(finished)
		r.Steps = append(r.Steps, &s)
	}
	return r, rows.Err()
}

// scanRun reads one run, with its definition when the row has runColumns.
func scanRun(s scanner, withDefinition bool) (*platform.Run, error) {
	var (
		r                   platform.Run
		params, agents, def string
		output              sql.NullString
		created             int64
		started, finished   sql.NullInt64
		cancelRequested     int
		revision            sql.NullInt64
	)
	dest := []any{&r.ID, &r.Namespace, &r.Workflow, &r.WorkflowID, &r.Status, &params, &agents, &output, &r.Error,
		&cancelRequested, &created, &started, &finished, &revision, &r.WorkflowVersion}
	if withDefinition {
		dest = append(dest, &def)
	}
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(agents), &r.Agents); err != nil {
		return nil, err
	}
	r.Parameters, r.Output = json.RawMessage(params), rawOrNil(output)
	r.CancelRequested = cancelRequested != 0
	r.WorkflowRevision = int(revision.Int64)
	r.CreatedAt = time.UnixMicro(created).UTC()
	r.StartedAt, r.FinishedAt = timeOrNil(started), timeOrNil(finished)
	if withDefinition {
		r.Definition = json.RawMessage(def)
	}
	return &r, nil
}

func scanInts(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// revisionOrNull is a run's workflow revision, NULL for none (an inline
// workflow).
func revisionOrNull(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

// microsOrNull is t as Unix microseconds, NULL for nil.
func microsOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// timeOrNil is the inverse of microsOrNull.
func timeOrNil(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMicro(n.Int64).UTC()
	return &t
}

// jsonOrNull is b as text, NULL when empty.
func jsonOrNull(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// rawOrNil is the inverse of jsonOrNull.
func rawOrNil(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}
