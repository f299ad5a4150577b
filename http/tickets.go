package http

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/ossa-platform/platform"
)

// TicketParam is the query parameter that carries an event ticket
// (platform.EventTicket) to the routes that stream: a browser cannot set
// Authorization on a WebSocket or an EventSource.
const TicketParam = "ticket"

func (s *Server) registerTicketRoutes() {
	s.handle("POST /api/v1/events/tickets", anyScope, s.handleTicketCreate)
}

// handleStream registers a route that streams, as handle does: it takes
// an event ticket (?ticket=) in place of credentials.
func (s *Server) handleStream(pattern string, scope platform.Scope, fn handlerFunc) {
	if s.streams == nil {
		s.streams = map[string]bool{}
	}
	s.streams[pattern] = true
	s.handle(pattern, scope, fn)
}

// CreatedTicket is the answer to POST /api/v1/events/tickets.
type CreatedTicket struct {
	// Ticket opens one stream, once: "/ws?ticket=…".
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
	// Namespace and Scopes are what the stream acts in and may read.
	Namespace  string           `json:"namespace"`
	Namespaces []string         `json:"namespaces"`
	Scopes     []platform.Scope `json:"scopes"`
}

func (s *Server) ticketsReady() error {
	if s.Tickets == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "event tickets are not enabled on this gateway")
	}
	return nil
}

// handleTicketCreate handles "POST /api/v1/events/tickets": a ticket that
// opens one event stream, as the caller (in the namespace it acts in),
// within platform.EventTicketTTL. The body is empty or {}.
func (s *Server) handleTicketCreate(w http.ResponseWriter, r *http.Request) error {
	if err := s.ticketsReady(); err != nil {
		return err
	}
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	if len(body) > 0 {
		var in struct{}
		if _, problems, err := decodeObject(body, &in); err != nil {
			return err
		} else if len(problems) > 0 {
			return &platform.Error{Code: platform.EINVALID, Message: "the ticket request is not valid", Fields: problems}
		}
	}
	t, secret, err := platform.NewEventTicket(principal(r), time.Now())
	if err != nil {
		return err
	}
	if err := s.Tickets.CreateTicket(r.Context(), t); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	p := t.Principal
	return writeJSON(w, http.StatusCreated, CreatedTicket{Ticket: secret, ExpiresAt: t.ExpiresAt,
		Namespace: p.Namespace, Namespaces: p.Namespaces, Scopes: p.Scopes})
}

// ticketOf reports whether r opens a stream with an event ticket.
func (s *Server) ticketOf(r *http.Request) (string, bool) {
	if len(s.streams) == 0 || r.Method != http.MethodGet {
		return "", false
	}
	q := r.URL.Query()
	if !q.Has(TicketParam) {
		return "", false
	}
	if _, pattern := s.mux.Handler(r); !s.streams[pattern] {
		return "", false
	}
	return q.Get(TicketParam), true
}

// errBadTicket answers a ticket unknown, spent or expired alike.
var errBadTicket = platform.Errorf(platform.EUNAUTHORIZED,
	"the event ticket is not valid: tickets work once, within 30 s; ask POST /api/v1/events/tickets for another")

// redeem returns the principal of r's event ticket, which it spends.
func (s *Server) redeem(r *http.Request, secret string) (*platform.Principal, error) {
	if err := s.ticketsReady(); err != nil {
		return nil, err
	}
	if len(r.URL.Query()[TicketParam]) > 1 {
		return nil, &platform.Error{Code: platform.EBADREQUEST, Message: "send one event ticket",
			Fields: []platform.FieldError{{Field: TicketParam, Message: "is given more than once"}}}
	}
	if len(r.Header.Values("Authorization")) > 0 {
		return nil, &platform.Error{Code: platform.EBADREQUEST, Message: "send an event ticket or an Authorization header, not both",
			Fields: []platform.FieldError{{Field: TicketParam, Message: "comes with an Authorization header"}}}
	}
	if !platform.ValidEventTicket(secret) {
		return nil, errBadTicket
	}
	t, err := s.Tickets.RedeemTicket(r.Context(), platform.HashAPIKey(secret), time.Now())
	switch {
	case platform.ErrorCode(err) == platform.ENOTFOUND:
		return nil, errBadTicket
	case err != nil:
		logger(r).WarnContext(r.Context(), "event ticket lookup failed", slog.String("error", err.Error()))
		return nil, platform.Errorf(platform.EUNAVAILABLE, "event tickets cannot be checked now: the database does not answer")
	}
	p := t.Principal
	if err := p.Validate(); err != nil {
		return nil, errBadTicket
	}
	return &p, nil
}
