package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/ossa-platform/platform"
)

var _ platform.TicketStore = (*DB)(nil)

// errNoTicket is the answer for a ticket unknown, spent or expired alike.
var errNoTicket = platform.Errorf(platform.ENOTFOUND, "no such event ticket: it expired, was used already, or never was")

// CreateTicket stores t, and deletes the tickets that expired.
func (db *DB) CreateTicket(ctx context.Context, t *platform.EventTicket) error {
	p := t.Principal
	return db.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_tickets WHERE expires_at <= ?`, db.timestamp().UnixMicro()); err != nil {
			return translate(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO event_tickets (hash, kind, subject, namespace, namespaces, scopes, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.Hash, string(p.Kind), p.Subject, p.Namespace,
			encodeJSON(orEmpty(p.Namespaces)), encodeJSON(orEmpty(p.Scopes)), t.ExpiresAt.UTC().UnixMicro())
		return translate(err)
	})
}

// RedeemTicket deletes the unexpired ticket with that hash and returns it.
func (db *DB) RedeemTicket(ctx context.Context, hash []byte, now time.Time) (*platform.EventTicket, error) {
	var (
		t                  platform.EventTicket
		kind               string
		namespaces, scopes string
		expires            int64
	)
	err := db.db.QueryRowContext(ctx, `DELETE FROM event_tickets WHERE hash = ? AND expires_at > ?
		RETURNING hash, kind, subject, namespace, namespaces, scopes, expires_at`, hash, now.UTC().UnixMicro()).
		Scan(&t.Hash, &kind, &t.Principal.Subject, &t.Principal.Namespace, &namespaces, &scopes, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoTicket
	}
	if err != nil {
		return nil, translate(err)
	}
	t.Principal.Kind = platform.PrincipalKind(kind)
	if err := json.Unmarshal([]byte(namespaces), &t.Principal.Namespaces); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Principal.Scopes); err != nil {
		return nil, err
	}
	t.ExpiresAt = time.UnixMicro(expires).UTC()
	return &t, nil
}
