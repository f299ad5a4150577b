package platform

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"time"
)

// EventTicket lets a browser open an event stream (the WebSocket, SSE)
// without a header: browsers cannot set Authorization on a WebSocket, nor
// on an EventSource. A caller that authenticated asks for one (POST
// /api/v1/events/tickets) and opens the stream with "?ticket=" within
// EventTicketTTL; the stream takes it, once, and acts as the principal it
// was made for, narrowed to the scopes that read streams. A long-lived
// key never goes in a URL, where proxies and browsers' history keep it.
type EventTicket struct {
	// Hash is the SHA-256 of the ticket: what stores keep and find it by.
	Hash []byte
	// Principal is who the stream acts as.
	Principal Principal
	// ExpiresAt is when the ticket stops working, if unused.
	ExpiresAt time.Time
}

// EventTicketTTL is how long a ticket works: long enough to open the
// stream that asked for it, too short to be worth stealing.
const EventTicketTTL = 30 * time.Second

// EventTicketPrefix is how every ticket starts.
const EventTicketPrefix = "ossat_"

// StreamScopes are the scopes a ticket may carry: those of the streams.
var StreamScopes = []Scope{ScopeEventsRead, ScopeRunsRead}

// TicketStore keeps event tickets, shared by every replica on one store,
// so that a ticket made through one gateway opens a stream on another.
type TicketStore interface {
	// CreateTicket stores t, and forgets the tickets that expired.
	CreateTicket(ctx context.Context, t *EventTicket) error
	// RedeemTicket removes the ticket whose hash is hash and returns it,
	// if it has not expired at now: a ticket works once. One unknown,
	// spent or expired is ENOTFOUND.
	RedeemTicket(ctx context.Context, hash []byte, now time.Time) (*EventTicket, error)
}

// NewEventTicket returns a ticket for p, who must hold a scope of
// StreamScopes, expiring EventTicketTTL after now, and its secret, to be
// shown once. The ticket holds p's scopes of StreamScopes alone (all of
// them for an admin). A principal without any is EFORBIDDEN.
func NewEventTicket(p *Principal, now time.Time) (*EventTicket, string, error) {
	var scopes []Scope
	for _, s := range StreamScopes {
		if p.Can(s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		return nil, "", Errorf(EFORBIDDEN, "an event ticket opens streams, which need the scope %s or %s; this caller holds neither",
			ScopeEventsRead, ScopeRunsRead)
	}
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	secret := EventTicketPrefix + apiKeyEncoding.EncodeToString(b)
	q := *p
	q.Namespaces, q.Scopes = slices.Clone(p.Namespaces), scopes
	return &EventTicket{Hash: HashAPIKey(secret), Principal: q, ExpiresAt: now.Add(EventTicketTTL).UTC()}, secret, nil
}

// ValidEventTicket reports whether s has the shape of a ticket's secret.
func ValidEventTicket(s string) bool {
	rest, ok := strings.CutPrefix(s, EventTicketPrefix)
	if !ok || len(rest) != 32 {
		return false
	}
	_, err := apiKeyEncoding.DecodeString(rest)
	return err == nil
}
