package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
)

var _ platform.TicketStore = (*DB)(nil)

// errNoTicket is the answer for a ticket unknown, spent or expired alike.
var errNoTicket = platform.Errorf(platform.ENOTFOUND, "no such event ticket: it expired, was used already, or never was")

// CreateTicket stores t, and deletes the tickets that expired.
func (db *DB) CreateTicket(ctx context.Context, t *platform.EventTicket) error {
	p := t.Principal
	batch := &pgx.Batch{}
	batch.Queue(`DELETE FROM event_tickets WHERE expires_at <= $1`, db.timestamp())
	batch.Queue(`INSERT INTO event_tickets (hash, kind, subject, namespace, namespaces, scopes, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.Hash, string(p.Kind), p.Subject, p.Namespace,
		stringsOf(p.Namespaces), stringsOf(p.Scopes), t.ExpiresAt.UTC())
	return db.pool.SendBatch(ctx, batch).Close()
}

// RedeemTicket deletes the unexpired ticket with that hash and returns it.
func (db *DB) RedeemTicket(ctx context.Context, hash []byte, now time.Time) (*platform.EventTicket, error) {
	var (
		t      platform.EventTicket
		kind   string
		scopes []string
	)
	err := db.pool.QueryRow(ctx, `DELETE FROM event_tickets WHERE hash = $1 AND expires_at > $2
		RETURNING hash, kind, subject, namespace, namespaces, scopes, expires_at`, hash, now.UTC()).
		Scan(&t.Hash, &kind, &t.Principal.Subject, &t.Principal.Namespace, &t.Principal.Namespaces, &scopes, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoTicket
	}
	if err != nil {
		return nil, err
	}
	t.Principal.Kind = platform.PrincipalKind(kind)
	for _, s := range scopes {
		t.Principal.Scopes = append(t.Principal.Scopes, platform.Scope(s))
	}
	t.ExpiresAt = t.ExpiresAt.UTC()
	return &t, nil
}
