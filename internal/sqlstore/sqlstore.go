// Package sqlstore holds what the two SQL stores, sqlite and postgres,
// decide alike before and after they speak SQL: the defaults of a new run,
// who may take a run's lease, page cursors, and the errors callers act on.
// The SQL itself stays in each store, written for its own database.
package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
)

// RequeueOwner is the lease owner RequeueOrphans writes on the runs it
// requeues, until now+grace. It owns nothing: it only keeps the next orphan
// scans from requeueing the same run again while its new job waits, so
// AcquireRun takes a run leased to it at any time, expired or not. No
// executor may call itself by this name.
const RequeueOwner = "requeue"

// RequeueBatch is the most runs one RequeueOrphans call requeues; the next
// scan finds the rest.
const RequeueBatch = 100

// CancelledBeforeStart is the error of a run cancelled while it was queued.
const CancelledBeforeStart = "cancelled before it started"

// StopTimeout bounds how long Close waits for the run queue to stop.
const StopTimeout = 5 * time.Second

// Unfinished is the SQL list of the statuses of runs that are not over,
// for "status IN " + Unfinished.
var Unfinished = "('" + string(platform.RunQueued) + "', '" + string(platform.RunRunning) + "')"

// Finished is the SQL list of the terminal statuses, for "status IN " +
// Finished.
var Finished = "('" + string(platform.RunSucceeded) + "', '" + string(platform.RunFailed) + "', '" +
	string(platform.RunCancelled) + "', '" + string(platform.RunTimedOut) + "')"

// NewRun returns the row CreateRun stores for r: a new UUIDv7, status
// queued, created now, no outcome, no lease, and empty rather than absent
// parameters and agents. A definition or parameters that are not JSON, or
// a workflow ID that is not an ID, are EINVALID.
func NewRun(r *platform.Run, now time.Time) (platform.Run, error) {
	var p platform.Problems
	if len(r.Definition) == 0 || !json.Valid(r.Definition) {
		p.Add("/definition", "must be the workflow as JSON")
	}
	if len(r.Parameters) > 0 && !json.Valid(r.Parameters) {
		p.Add("/parameters", "must be JSON")
	}
	workflowID, ok := ParseID(r.WorkflowID)
	if r.WorkflowID != "" && !ok {
		p.Add("/workflow_id", "must be a workflow ID or empty")
	}
	if r.WorkflowRevision < 0 || (r.WorkflowRevision > 0 && r.WorkflowID == "") {
		p.Add("/workflow_revision", "must be a revision of the run's stored workflow, or 0")
	}
	if err := p.Err("the run is not valid"); err != nil {
		return platform.Run{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return platform.Run{}, err
	}
	row := platform.Run{
		ID:         id.String(),
		Namespace:  r.Namespace,
		Workflow:   r.Workflow,
		WorkflowID: workflowID,
		Status:     platform.RunQueued,
		Parameters: r.Parameters,
		Agents:     r.Agents,
		Steps:      []*platform.StepRun{},
		Definition: r.Definition,
		CreatedAt:  Micro(now),
	}
	row.WorkflowRevision, row.WorkflowVersion = r.WorkflowRevision, r.WorkflowVersion
	if row.Namespace == "" {
		row.Namespace = platform.DefaultNamespace
	}
	if len(row.Parameters) == 0 {
		row.Parameters = json.RawMessage(`{}`)
	}
	if row.Agents == nil {
		row.Agents = []string{}
	}
	return row, nil
}

// CheckStep rejects a step state no store should keep.
func CheckStep(s *platform.StepRun) error {
	var p platform.Problems
	if s.ID == "" {
		p.Add("/id", "is required")
	}
	if s.Status == "" {
		p.Add("/status", "is required")
	}
	if len(s.Output) > 0 && !json.Valid(s.Output) {
		p.Add("/output", "must be JSON")
	}
	return p.Err("the step state is not valid")
}

// CheckFinish rejects a FinishRun that would not leave the run finished.
func CheckFinish(status platform.RunStatus, output json.RawMessage) error {
	var p platform.Problems
	if !status.Terminal() {
		p.Add("/status", "must be a terminal status, not %q", status)
	}
	if len(output) > 0 && !json.Valid(output) {
		p.Add("/output", "must be JSON")
	}
	return p.Err("the run cannot finish so")
}

// CheckOwner rejects an owner that could not be told from no owner or from
// RequeueOwner.
func CheckOwner(owner string) error {
	if owner == "" || owner == RequeueOwner {
		return platform.Errorf(platform.EINVALID, "a lease owner must be named, and not %q", RequeueOwner)
	}
	return nil
}

// CanAcquire reports whether owner may take a lease held by holder until
// until (holder "" is none): when it is free, its own, RequeueOwner's, or
// expired at now.
func CanAcquire(holder string, until *time.Time, owner string, now time.Time) bool {
	return holder == "" || holder == owner || holder == RequeueOwner || until == nil || until.Before(now)
}

// ParseID returns id in the canonical form the stores keep, and false when
// it is not a UUID at all, which no stored run has.
func ParseID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// Cursor returns the ID a page cursor names, "" for none, or
// platform.BadCursor() for a cursor no page gave out.
func Cursor(after string) (string, error) {
	if after == "" {
		return "", nil
	}
	id, ok := ParseID(after)
	if !ok {
		return "", platform.BadCursor()
	}
	return id, nil
}

// PageSize bounds a requested page size: the HTTP layer checks it already,
// this keeps a careless caller from slicing out of range.
func PageSize(limit int) int {
	if limit <= 0 {
		return platform.DefaultPageSize
	}
	return min(limit, platform.MaxPageSize)
}

// Page cuts items, read with a limit of limit+1, to one page, and returns
// the cursor of the next page, "" when this one is the last.
func Page[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, id(items[limit-1])
}

// RunNotFound is the ENOTFOUND of a run.
func RunNotFound(id string) error {
	return platform.Errorf(platform.ENOTFOUND, "run %q not found", id)
}

// LeaseLost is the ECONFLICT of a ledger write by an owner that does not
// hold the run's lease.
func LeaseLost(id, owner string) error {
	return platform.Errorf(platform.ECONFLICT, "run %q is not leased to %q", id, owner)
}

// LeaseHeld is the ECONFLICT of an AcquireRun while another owner's lease
// is live.
func LeaseHeld(id string) error {
	return platform.Errorf(platform.ECONFLICT, "run %q is leased to another executor", id)
}

// HealthArgs returns the health columns of h: its status, unknown when
// unset, its reason, and when it was checked at the stores' precision.
func HealthArgs(h platform.AgentHealth) (status, reason string, checked *time.Time) {
	status = string(h.Status)
	if status == "" {
		status = string(platform.HealthUnknown)
	}
	return status, h.Reason, MicroPtr(h.CheckedAt)
}

// Micro is t in UTC at PostgreSQL's precision, the microsecond, so that
// what a write returns equals what a later read returns in both stores.
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// MicroPtr is Micro of *t, nil for nil.
func MicroPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	m := Micro(*t)
	return &m
}

// ManifestArgs are the format and body columns of a stored manifest: NULL
// for none, and an empty body rather than NULL for an empty one, so that a
// manifest that was stored reads back as stored.
func ManifestArgs(m *platform.ManifestSource) (format, body any) {
	if m == nil {
		return nil, nil
	}
	b := m.Body
	if b == nil {
		b = []byte{}
	}
	return m.Format, b
}

// AuthArg is the auth column of an agent: its AgentAuth as JSON, or NULL
// for none.
func AuthArg(a *platform.AgentAuth) any {
	if a == nil {
		return nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return string(b)
}

// AuthOf is the inverse of AuthArg: nil for NULL.
func AuthOf(b []byte) (*platform.AgentAuth, error) {
	if b == nil {
		return nil, nil
	}
	a := new(platform.AgentAuth)
	if err := json.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("read an agent's auth: %w", err)
	}
	return a, nil
}

// SecretNotFound is the ENOTFOUND of a secret.
func SecretNotFound(namespace, name string) error {
	return platform.Errorf(platform.ENOTFOUND, "secret %q not found in namespace %q", name, namespace)
}

// CheckSealed rejects a sealed secret no store should keep.
func CheckSealed(s *platform.SealedSecret) error {
	var p platform.Problems
	if !platform.ValidNamespace(s.Namespace) {
		p.Add("/namespace", "must be a DNS-1123 label")
	}
	if !platform.ValidName(s.Name) {
		p.Add("/name", "must be a DNS-1123 label")
	}
	if s.KeyID == "" {
		p.Add("/key_id", "is required")
	}
	if len(s.Ciphertext) == 0 {
		p.Add("/ciphertext", "is required")
	}
	return p.Err("the secret cannot be stored")
}

// ChoiceJSON is the column form of a step's choice: JSON, or nil.
func ChoiceJSON(c *platform.StepChoice) json.RawMessage {
	if c == nil {
		return nil
	}
	b, _ := json.Marshal(c) // of plain fields: cannot fail
	return b
}

// ParseChoice is the inverse of ChoiceJSON; an empty column is no choice.
func ParseChoice(b []byte) (*platform.StepChoice, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var c platform.StepChoice
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("a step's choice is not JSON: %w", err)
	}
	return &c, nil
}

// AttributesJSON is the column form of a vector document's capabilities
// and labels: JSON, an empty list or object when nil.
func AttributesJSON(capabilities []string, labels map[string]string) (caps, labelsJSON string) {
	if capabilities == nil {
		capabilities = []string{}
	}
	if labels == nil {
		labels = map[string]string{}
	}
	c, _ := json.Marshal(capabilities) // strings always marshal
	l, _ := json.Marshal(labels)
	return string(c), string(l)
}
