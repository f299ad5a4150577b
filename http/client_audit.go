package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

// AuditQuery selects the records ListAudit returns. Zero fields match
// everything.
type AuditQuery struct {
	// Namespaces are the namespaces whose records to list; none is every
	// namespace the caller sees.
	Namespaces []string
	// Principal is a caller's subject, PrincipalKind its kind.
	Principal     string
	PrincipalKind platform.PrincipalKind
	// Action is an action ("agent.create") or a family of them ("agent.*").
	Action string
	// Target is a target's ID or name, TargetKind its kind.
	Target     string
	TargetKind string
	Outcome    platform.AuditOutcome
	// Since and Until bound the records' time; zero is unbounded.
	Since, Until time.Time
	// Limit is the page size; 0 leaves it to the server (50).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	set := func(name, value string) {
		if value != "" {
			v.Set(name, value)
		}
	}
	set("namespace", strings.Join(q.Namespaces, ","))
	set("principal", q.Principal)
	set("principal_kind", string(q.PrincipalKind))
	set("action", q.Action)
	set("target", q.Target)
	set("target_kind", q.TargetKind)
	set("outcome", string(q.Outcome))
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return v
}

// ListAudit returns one page of the audit log, newest first. It needs the
// admin scope: others get a *Problem with code forbidden (403).
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (*AuditList, error) {
	var l AuditList
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit", q.values(), "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
