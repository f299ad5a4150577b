package http

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

func (s *Server) registerAuditRoutes() {
	s.handle("GET /api/v1/audit", platform.ScopeAdmin, s.handleAuditList)
}

// AuditList is the body of GET /api/v1/audit: audit records, newest first.
type AuditList = Page[platform.AuditRecord]

// auditListParams are the query parameters GET /api/v1/audit takes.
var auditListParams = []string{"namespace", "principal", "principal_kind", "action", "target", "target_kind",
	"outcome", "since", "until", "limit", "cursor"}

// maxAuditParam bounds the length of a text filter of the audit log.
const maxAuditParam = 256

// handleAuditList handles "GET /api/v1/audit": one page of the audit log,
// for callers with the admin scope, of the namespaces they see (every
// record, those of no namespace among them, for one that sees all).
func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) error {
	if s.Audit == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "the audit log is not configured")
	}
	p := principal(r)
	if !p.Can(platform.ScopeAdmin) {
		return platform.Errorf(platform.EFORBIDDEN, "reading the audit log needs the %q scope", platform.ScopeAdmin)
	}
	q := r.URL.Query()
	if err := onlyParams(q, auditListParams...); err != nil {
		return err
	}
	f, requested, err := parseAuditFilter(q)
	if err != nil {
		return err
	}
	if f.Namespaces, err = auditNamespaces(p, requested); err != nil {
		return err
	}
	page, err := s.Audit.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	return writePage(w, page.Items, page.Next)
}

// parseAuditFilter reads the audit log's query parameters, but for the
// namespaces, which it returns as asked for: each namespace parameter may
// name several, comma-separated.
func parseAuditFilter(q url.Values) (platform.AuditFilter, []string, error) {
	var f platform.AuditFilter
	var p platform.Problems
	var namespaces []string
	for _, v := range q["namespace"] {
		for ns := range strings.SplitSeq(v, ",") {
			ns = strings.TrimSpace(ns)
			if !platform.ValidNamespace(ns) {
				p.Add("namespace", "%q is not a namespace: a DNS-1123 label of at most 63 lower-case letters, digits and '-'",
					platform.Truncate(ns, 64))
				continue
			}
			if !slices.Contains(namespaces, ns) {
				namespaces = append(namespaces, ns)
			}
		}
	}
	text := func(name string) string {
		v := q.Get(name)
		if len(v) > maxAuditParam {
			p.Add(name, "must be at most %d bytes long", maxAuditParam)
		}
		return v
	}
	f.Principal = text("principal")
	f.PrincipalKind = platform.PrincipalKind(text("principal_kind"))
	f.Action = text("action")
	f.Target = text("target")
	f.TargetKind = text("target_kind")
	if v := q.Get("outcome"); v != "" {
		f.Outcome = platform.AuditOutcome(v)
		if !f.Outcome.Valid() {
			p.Add("outcome", "must be one of %s", platform.QuoteList(platform.AuditOutcomes))
		}
	}
	at := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			p.Add(name, "must be a time in RFC 3339 form, such as 2025-01-02T15:04:05Z")
		}
		return t
	}
	f.Since, f.Until = at("since"), at("until")
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		p.Add("until", "must be later than since")
	}
	f.After, f.Limit = parsePage(q, &p)
	if len(p) > 0 {
		return f, nil, &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid", Fields: p}
	}
	return f, namespaces, nil
}

// auditNamespaces returns the namespaces whose records p may read, of
// those requested (all it sees when none): nil, every record, for a
// principal that sees every namespace. A namespace p does not see is
// EFORBIDDEN, as acting in it would be.
func auditNamespaces(p *platform.Principal, requested []string) ([]string, error) {
	all := slices.Contains(p.Namespaces, platform.AllNamespaces)
	if len(requested) == 0 {
		if all {
			return nil, nil
		}
		return slices.Clone(p.Namespaces), nil
	}
	for _, ns := range requested {
		if !p.Sees(ns) {
			return nil, platform.Errorf(platform.EFORBIDDEN, "this caller may not read the audit log of namespace %q", ns)
		}
	}
	return requested, nil
}
