package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

// eventColumns read an event in the order scanEvent expects.
const eventColumns = `id, type, time, agent, coalesce(run_id::text, ''), data, namespace`

// sink writes what a change recorded (sqlstore.Recorder) in the change's
// transaction tx.
type sink struct {
	db *DB
	tx pgx.Tx
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
		b.WriteString("(")
		for j, v := range []any{e.Type, e.Time, e.Stream(), e.Agent, nullIfEmpty(e.RunID), e.Data, e.Namespace} {
			if j > 0 {
				b.WriteString(", ")
			}
			args = append(args, v)
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		b.WriteString(")")
	}
	if _, err := s.tx.Exec(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("write event %s: %w", events[0].Type, err)
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
		return fmt.Errorf("enqueue run %q: %w", runIDs[0], err)
	}
	return nil
}

// SequenceEvents numbers the committed unsequenced events in insertion
// order. The row lock on event_sequence makes concurrent calls, from any
// replica, take turns, so positions follow commit order with no gap.
func (db *DB) SequenceEvents(ctx context.Context) ([]platform.Event, error) {
	var pending bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE id IS NULL)`).Scan(&pending); err != nil || !pending {
		return nil, err
	}
	var out []platform.Event
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		var last int64
		if err := tx.QueryRow(ctx, `SELECT last FROM event_sequence FOR UPDATE`).Scan(&last); err != nil {
			return fmt.Errorf("lock the event sequence: %w", err)
		}
		rows, err := tx.Query(ctx, `WITH pending AS (SELECT pk FROM events WHERE id IS NULL ORDER BY pk LIMIT $2),
			next AS (SELECT pk, $1::bigint + row_number() OVER (ORDER BY pk) AS id FROM pending)
			UPDATE events e SET id = next.id FROM next WHERE e.pk = next.pk
			RETURNING e.id, e.type, e.time, e.agent, coalesce(e.run_id::text, ''), e.data, e.namespace`, last, platform.DefaultEventBatch)
		if err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		if out, err = pgx.CollectRows(rows, scanEvent); err != nil || len(out) == 0 {
			return err
		}
		slices.SortFunc(out, func(a, b platform.Event) int { return int(a.ID - b.ID) })
		_, err = tx.Exec(ctx, `UPDATE event_sequence SET last = $1`, out[len(out)-1].ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListEvents returns the sequenced events q selects, oldest first.
func (db *DB) ListEvents(ctx context.Context, q platform.EventQuery) ([]platform.Event, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := sqlstore.EventWhere(q, arg)
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE `+where+
		` ORDER BY id LIMIT `+arg(sqlstore.EventLimit(q)), args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if out == nil && err == nil {
		out = []platform.Event{}
	}
	return out, err
}

// LastEventID is the ID of the newest sequenced event.
func (db *DB) LastEventID(ctx context.Context) (int64, error) {
	var last int64
	err := db.pool.QueryRow(ctx, `SELECT last FROM event_sequence`).Scan(&last)
	return last, err
}

// PruneEvents deletes sequenced events older than before.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM events WHERE time < $1 AND id IS NOT NULL`, before)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return tag.RowsAffected(), nil
}

func scanEvent(row pgx.CollectableRow) (platform.Event, error) {
	var e platform.Event
	if err := row.Scan(&e.ID, &e.Type, &e.Time, &e.Agent, &e.RunID, &e.Data, &e.Namespace); err != nil {
		return e, err
	}
	e.Time = e.Time.UTC()
	return e, nil
}
