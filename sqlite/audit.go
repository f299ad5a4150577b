package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

var _ platform.AuditStore = (*DB)(nil)

// micros is t as the store keeps times, Unix microseconds.
func micros(t time.Time) any { return t.UnixMicro() }

// Audit writes the change's audit records in one insert.
func (s sink) Audit(ctx context.Context, records []platform.AuditRecord) error {
	return insertAudit(ctx, s.tx, records, s.db.timestamp())
}

// insertAudit stamps the records and inserts them through tx.
func insertAudit(ctx context.Context, tx *sql.Tx, records []platform.AuditRecord, now time.Time) error {
	stamped, err := sqlstore.StampAudit(records, now)
	if err != nil {
		return err
	}
	args := make([]any, 0, 14*len(stamped))
	for i := range stamped {
		args = append(args, sqlstore.AuditArgs(&stamped[i], micros)...)
	}
	stmt := sqlstore.AuditInsert(len(stamped), func(int) string { return "?" })
	if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
		return fmt.Errorf("write audit record %s: %w", stamped[0].Action, translate(err))
	}
	return nil
}

// RecordAudit writes records in a transaction of their own.
func (db *DB) RecordAudit(ctx context.Context, records ...platform.AuditRecord) error {
	if len(records) == 0 {
		return nil
	}
	return db.withTx(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, records, db.timestamp()) })
}

// ListAudit returns one page of the audit records f selects, newest first.
func (db *DB) ListAudit(ctx context.Context, f platform.AuditFilter) (platform.AuditPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	after, err := sqlstore.Cursor(f.After)
	if err != nil {
		return platform.AuditPage{}, err
	}
	var args []any
	arg := func(v any) string { args = append(args, v); return "?" }
	where := sqlstore.AuditWhere(f, after, arg, micros)
	rows, err := db.db.QueryContext(ctx, `SELECT `+sqlstore.AuditColumns+` FROM audit_log WHERE `+where+
		` ORDER BY id DESC LIMIT `+arg(limit+1), args...)
	if err != nil {
		return platform.AuditPage{}, err
	}
	defer rows.Close()
	var items []platform.AuditRecord
	for rows.Next() {
		var (
			a  platform.AuditRecord
			at int64
		)
		if err := rows.Scan(&a.ID, &at, &a.Principal.Kind, &a.Principal.Subject, &a.Namespace, &a.Action,
			&a.Target.Kind, &a.Target.ID, &a.Target.Name, &a.RequestID, &a.Source, &a.Outcome, &a.Detail, &a.Count); err != nil {
			return platform.AuditPage{}, err
		}
		a.Time = time.UnixMicro(at).UTC()
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		return platform.AuditPage{}, err
	}
	var page platform.AuditPage
	page.Items, page.Next = sqlstore.Page(items, limit, func(a platform.AuditRecord) string { return a.ID })
	return page, nil
}

// PruneAudit deletes up to limit audit records older than before, oldest
// first.
func (db *DB) PruneAudit(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log
			WHERE time < ? ORDER BY time, id LIMIT ?)`, before.UnixMicro(), limit)
		if err != nil {
			return translate(err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
