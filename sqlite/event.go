package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

// sink writes what a change recorded (sqlstore.Recorder) in the change's
// transaction tx.
type sink struct {
	db *DB
	tx *sql.Tx
}

// Events writes the events, unsequenced, in one insert: the outbox rows of
// the change.
func (s sink) Events(ctx context.Context, events []platform.Event) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO events (type, time, stream, agent, run_id, data, namespace) VALUES `)
	args := make([]any, 0, 7*len(events))
	for i, e := range events {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.Type, e.Time.UnixMicro(), e.Stream(), e.Agent, e.RunID, string(e.Data), e.Namespace)
	}
	if _, err := s.tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("write event %s: %w", events[0].Type, translate(err))
	}
	return nil
}

// Jobs enqueues the runs through the queue of the moment.
func (s sink) Jobs(ctx context.Context, runIDs []string) error {
	q, err := s.db.queue.Get()
	if err != nil {
		return err
	}
	if err := q.EnqueueTx(ctx, s.tx, runIDs...); err != nil {
		return translate(err)
	}
	return nil
}

// SequenceEvents numbers the committed unsequenced events in insertion
// order, under the write lock, so positions follow commit order with no
// gap.
func (db *DB) SequenceEvents(ctx context.Context) ([]platform.Event, error) {
	var pending bool
	if err := db.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE id IS NULL)`).Scan(&pending); err != nil || !pending {
		return nil, err
	}
	var out []platform.Event
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT last FROM event_sequence`).Scan(&last); err != nil {
			return fmt.Errorf("read the event sequence: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `WITH pending AS (SELECT pk FROM events WHERE id IS NULL ORDER BY pk LIMIT ?),
			next AS (SELECT pk, ? + row_number() OVER (ORDER BY pk) AS id FROM pending)
			UPDATE events SET id = next.id FROM next WHERE events.pk = next.pk`, platform.DefaultEventBatch, last); err != nil {
			return fmt.Errorf("sequence events: %w", translate(err))
		}
		var err error
		if out, err = listEvents(ctx, tx, platform.EventQuery{After: last}); err != nil || len(out) == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE event_sequence SET last = ?`, out[len(out)-1].ID)
		return translate(err)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListEvents returns the sequenced events q selects, oldest first.
func (db *DB) ListEvents(ctx context.Context, q platform.EventQuery) ([]platform.Event, error) {
	return listEvents(ctx, db.db, q)
}

func listEvents(ctx context.Context, db querier, q platform.EventQuery) ([]platform.Event, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "?"
	}
	where := sqlstore.EventWhere(q, arg)
	rows, err := db.QueryContext(ctx, `SELECT `+sqlstore.EventColumns+` FROM events WHERE `+where+
		` ORDER BY id LIMIT `+arg(sqlstore.EventLimit(q)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []platform.Event{}
	for rows.Next() {
		var (
			e    platform.Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.ID, &e.Type, &at, &e.Agent, &e.RunID, &data, &e.Namespace); err != nil {
			return nil, err
		}
		e.Time, e.Data = time.UnixMicro(at).UTC(), []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEventID is the ID of the newest sequenced event.
func (db *DB) LastEventID(ctx context.Context) (int64, error) {
	var last int64
	err := db.db.QueryRowContext(ctx, `SELECT last FROM event_sequence`).Scan(&last)
	return last, err
}

// PruneEvents deletes sequenced events older than before.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE time < ? AND id IS NOT NULL`, before.UnixMicro())
		if err != nil {
			return translate(err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
