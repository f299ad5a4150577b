package platform

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Audit actions: what a change did, "<kind>.<verb>". A store records one
// audit record per change of these kinds, in the change's transaction
// (sqlstore.Recorder.Audit); the gateway records a denied request under
// its route instead ("GET /api/v1/agents/{ref}"). The engine's own
// changes (a run started, its steps, its outcome, agents' health) and the
// store's housekeeping (pruning) are not audited: they are no caller's
// doing, and the run's events and record tell them.
const (
	AuditAgentCreate    = "agent.create"
	AuditAgentUpdate    = "agent.update"
	AuditAgentDelete    = "agent.delete"
	AuditWorkflowCreate = "workflow.create"
	AuditWorkflowUpdate = "workflow.update"
	AuditWorkflowDelete = "workflow.delete"
	AuditRunCreate      = "run.create"
	AuditRunCancel      = "run.cancel"
	AuditKeyCreate      = "api_key.create"
	AuditKeyRevoke      = "api_key.revoke"
	AuditSecretPut      = "secret.put"
	AuditSecretDelete   = "secret.delete"
)

// Audit target kinds: the kind of what an audit record concerns.
const (
	AuditTargetAgent    = "agent"
	AuditTargetWorkflow = "workflow"
	AuditTargetRun      = "run"
	AuditTargetKey      = "api_key"
	AuditTargetSecret   = "secret"
	// AuditTargetRoute is the target of a denied request: the path it
	// asked for.
	AuditTargetRoute = "route"
)

// AuditOutcome is how what an audit record tells ended.
type AuditOutcome string

// Audit outcomes. A change is recorded in its own transaction, so only a
// change that happened is recorded, as ok; a request the gateway refused
// (401, 403) is denied.
const (
	AuditOK     AuditOutcome = "ok"
	AuditDenied AuditOutcome = "denied"
)

// AuditOutcomes lists every valid AuditOutcome.
var AuditOutcomes = []AuditOutcome{AuditOK, AuditDenied}

// Valid reports whether o is one of AuditOutcomes.
func (o AuditOutcome) Valid() bool { return slices.Contains(AuditOutcomes, o) }

// PrincipalSystem is the kind of the principal of a change that no
// request made: a store method called with no principal in its context,
// by a tool or by code of the platform's own. Such a change of an audited
// kind is recorded as SystemPrincipal's, so that none goes unrecorded.
const PrincipalSystem PrincipalKind = "system"

// SystemPrincipal is who an audit record names for a change whose context
// carries no principal.
var SystemPrincipal = AuditPrincipal{Kind: PrincipalSystem, Subject: "system"}

// AuditPrincipal is who did what an audit record tells: a principal's kind
// and subject. It is zero for a denied request whose caller is unknown
// (no or bad credentials).
type AuditPrincipal struct {
	Kind    PrincipalKind `json:"kind"`
	Subject string        `json:"subject"`
}

// AuditTarget is what an audit record concerns: its kind, its ID and its
// name, each "" where it has none (a denied request's target has only a
// name, its path).
type AuditTarget struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// AuditRecord is one entry of the audit log: a change, or a denied
// request, with who asked for it, from where and in which request.
type AuditRecord struct {
	// ID is a UUIDv7 whose time is Time's, to the millisecond: records
	// list newest first in ID order.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Principal is who made the change or the request; zero when unknown.
	Principal AuditPrincipal `json:"principal,omitzero"`
	// Namespace is the namespace of what was changed, or the namespace a
	// denied request would have acted in; "" when unknown.
	Namespace string `json:"namespace"`
	// Action is what was done (AuditAgentCreate...), or a denied
	// request's route ("DELETE /api/v1/agents/{ref}").
	Action string      `json:"action"`
	Target AuditTarget `json:"target"`
	// RequestID is the X-Request-ID of the request that made the change;
	// "" for a change no request made.
	RequestID string `json:"request_id,omitempty"`
	// Source is the client's address, as the gateway tells clients apart
	// (the peer, or the client a trusted proxy names); "" for a change no
	// request made.
	Source  string       `json:"source,omitempty"`
	Outcome AuditOutcome `json:"outcome"`
	// Detail says more, briefly: a workflow's new revision, a denial's
	// status.
	Detail string `json:"detail,omitempty"`
	// Count is how many like events the record stands for: 1 for a
	// change; for denials, which are folded together per minute (the same
	// source, caller, route, path and status), how many there were.
	Count int `json:"count"`
}

// MaxAuditDetail bounds an audit record's Detail, in bytes; a longer one
// is cut.
const MaxAuditDetail = 1024

// RequestInfo is what the gateway knows of the request a context belongs
// to beside its principal: its ID and the client's address. Audit records
// take them from the change's context.
type RequestInfo struct {
	// ID is the request's X-Request-ID.
	ID string
	// Source is the client's address.
	Source string
}

type requestInfoKey struct{}

// WithRequestInfo returns a copy of ctx that carries info.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the request info ctx carries, zero when none.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info
}

// NewAudit returns the audit record of a change made with ctx: action done
// to target in namespace, by ctx's principal (SystemPrincipal when it has
// none) in ctx's request, ok, once. Its ID and Time are the store's to set
// as it writes it.
func NewAudit(ctx context.Context, action, namespace string, target AuditTarget) AuditRecord {
	who := SystemPrincipal
	if p := PrincipalFrom(ctx); p != nil {
		who = AuditPrincipal{Kind: p.Kind, Subject: p.Subject}
	}
	info := RequestInfoFrom(ctx)
	return AuditRecord{Principal: who, Namespace: namespace, Action: action, Target: target,
		RequestID: info.ID, Source: info.Source, Outcome: AuditOK, Count: 1}
}

// Check reports what makes a record unfit to store: no action or target
// kind, an unknown outcome, a count below 1, or a principal with a
// subject and no kind.
func (a *AuditRecord) Check() error {
	var p Problems
	if a.Action == "" {
		p.Add("/action", "is required")
	}
	if a.Target.Kind == "" {
		p.Add("/target/kind", "is required")
	}
	if !a.Outcome.Valid() {
		p.Add("/outcome", "must be one of %s, not %q", QuoteList(AuditOutcomes), a.Outcome)
	}
	if a.Count < 1 {
		p.Add("/count", "must be at least 1")
	}
	if a.Principal.Kind == "" && a.Principal.Subject != "" {
		p.Add("/principal/kind", "is required with a subject")
	}
	return p.Err("the audit record is not valid")
}

// AuditFilter selects audit records. Zero fields match everything.
type AuditFilter struct {
	// Namespaces limits the records to those of these namespaces; nil
	// selects every record, those of no namespace (denials of unknown
	// callers) among them. An empty, non-nil list selects none.
	Namespaces []string
	// PrincipalKind and Principal (a subject) select who.
	PrincipalKind PrincipalKind
	Principal     string
	// Action is an action, or a family of them: "agent.*" is every action
	// that starts with "agent.".
	Action string
	// TargetKind selects the target's kind; Target its ID or its name.
	TargetKind string
	Target     string
	Outcome    AuditOutcome
	// Since and Until bound the records' time: Since <= Time < Until.
	// Zero is unbounded.
	Since, Until time.Time
	// After is the ID of the last record of the page before, "" for the
	// first page.
	After string
	// Limit is the page size, 1 to MaxPageSize; DefaultPageSize when 0.
	Limit int
}

// ActionPrefix returns the prefix Action names ("agent." for "agent.*")
// and true, or "" and false when Action is one action (or none).
func (f AuditFilter) ActionPrefix() (string, bool) {
	if p, ok := strings.CutSuffix(f.Action, "*"); ok && strings.HasSuffix(p, ".") {
		return p, true
	}
	return "", false
}

// AuditPage is one page of audit records, newest first.
type AuditPage struct {
	Items []AuditRecord
	Next  string
}

// AuditStore keeps the audit log. The records of changes are written by
// the stores' changes themselves, in their transactions; RecordAudit is
// for what no change writes (the gateway's denials).
type AuditStore interface {
	// RecordAudit writes records on their own, outside any change, setting
	// each one's ID from its Time (now when zero). A record that fails
	// Check is EINVALID and none is written.
	RecordAudit(ctx context.Context, records ...AuditRecord) error
	// ListAudit returns one page of the records f selects, newest first. A
	// cursor no page gave out is BadCursor's EINVALID.
	ListAudit(ctx context.Context, f AuditFilter) (AuditPage, error)
	// PruneAudit deletes up to limit records older than before, oldest
	// first, and returns how many it deleted.
	PruneAudit(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Details of run.cancel records: the run was queued and is cancelled, or
// it was running and is asked to stop.
const (
	AuditCancelledQueued = "cancelled before it started"
	AuditCancelRequested = "cancel requested of the running run"
)

// NewAgentAudit is NewAudit of a change to agent a; a new agent's record
// says when it came from a manifest.
func NewAgentAudit(ctx context.Context, action string, a *Agent) AuditRecord {
	rec := NewAudit(ctx, action, a.Namespace, AuditTarget{Kind: AuditTargetAgent, ID: a.ID, Name: a.Name})
	if action == AuditAgentCreate && a.Manifest != nil {
		rec.Detail = "from a " + a.Manifest.Format + " manifest"
	}
	return rec
}

// NewWorkflowAudit is NewAudit of a change to workflow w; a create or an
// update says the revision it stored.
func NewWorkflowAudit(ctx context.Context, action string, w *Workflow) AuditRecord {
	rec := NewAudit(ctx, action, w.Namespace, AuditTarget{Kind: AuditTargetWorkflow, ID: w.ID, Name: w.Name})
	if action != AuditWorkflowDelete && w.Revision > 0 {
		rec.Detail = "revision " + itoa(w.Revision)
	}
	return rec
}

// NewRunAudit is NewAudit of a change to run r, which its workflow's name
// names, with detail.
func NewRunAudit(ctx context.Context, action string, r *Run, detail string) AuditRecord {
	rec := NewAudit(ctx, action, r.Namespace, AuditTarget{Kind: AuditTargetRun, ID: r.ID, Name: r.Workflow})
	rec.Detail = detail
	return rec
}
