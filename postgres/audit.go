package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

var _ platform.AuditStore = (*DB)(nil)

// asTime is t as pgx sends it, a timestamptz.
func asTime(t time.Time) any { return t }

// Audit writes the change's audit records in one insert.
func (s sink) Audit(ctx context.Context, records []platform.AuditRecord) error {
	stmt, args, err := auditInsert(records, s.db.timestamp())
	if err != nil {
		return err
	}
	if _, err := s.tx.Exec(ctx, stmt, args...); err != nil {
		return fmt.Errorf("write audit record %s: %w", records[0].Action, err)
	}
	return nil
}

// auditInsert stamps the records and returns the statement that inserts
// them, with its arguments.
func auditInsert(records []platform.AuditRecord, now time.Time) (string, []any, error) {
	stamped, err := sqlstore.StampAudit(records, now)
	if err != nil {
		return "", nil, err
	}
	args := make([]any, 0, 14*len(stamped))
	for i := range stamped {
		args = append(args, sqlstore.AuditArgs(&stamped[i], asTime)...)
	}
	return sqlstore.AuditInsert(len(stamped), func(i int) string { return "$" + strconv.Itoa(i+1) }), args, nil
}

// RecordAudit writes records in one statement of their own.
func (db *DB) RecordAudit(ctx context.Context, records ...platform.AuditRecord) error {
	if len(records) == 0 {
		return nil
	}
	stmt, args, err := auditInsert(records, db.timestamp())
	if err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, stmt, args...); err != nil {
		return fmt.Errorf("write audit record %s: %w", records[0].Action, err)
	}
	return nil
}

// ListAudit returns one page of the audit records f selects, newest first.
func (db *DB) ListAudit(ctx context.Context, f platform.AuditFilter) (platform.AuditPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	after, err := sqlstore.Cursor(f.After)
	if err != nil {
		return platform.AuditPage{}, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := sqlstore.AuditWhere(f, after, arg, asTime)
	rows, err := db.pool.Query(ctx, `SELECT id::text, time, principal_kind, principal_subject, namespace, action,
		target_kind, target_id, target_name, request_id, source, outcome, detail, count
		FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT `+arg(limit+1), args...)
	if err != nil {
		return platform.AuditPage{}, fmt.Errorf("list audit records: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (platform.AuditRecord, error) {
		var a platform.AuditRecord
		err := row.Scan(&a.ID, &a.Time, &a.Principal.Kind, &a.Principal.Subject, &a.Namespace, &a.Action,
			&a.Target.Kind, &a.Target.ID, &a.Target.Name, &a.RequestID, &a.Source, &a.Outcome, &a.Detail, &a.Count)
		a.Time = a.Time.UTC()
		return a, err
	})
	if err != nil {
		return platform.AuditPage{}, fmt.Errorf("list audit records: %w", err)
	}
	var page platform.AuditPage
	page.Items, page.Next = sqlstore.Page(items, limit, func(a platform.AuditRecord) string { return a.ID })
	return page, nil
}

// PruneAudit deletes up to limit audit records older than before, oldest
// first. SKIP LOCKED leaves a row another pruner holds to the next call.
func (db *DB) PruneAudit(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log
		WHERE time < $1 ORDER BY time, id LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("prune audit records: %w", err)
	}
	return tag.RowsAffected(), nil
}
