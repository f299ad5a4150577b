package platform

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// RunStatus is where a workflow run is in its life.
type RunStatus string

// Run statuses. Succeeded, failed, cancelled and timed_out are terminal.
const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
	RunTimedOut  RunStatus = "timed_out"
)

// RunStatuses lists every valid RunStatus.
var RunStatuses = []RunStatus{RunQueued, RunRunning, RunSucceeded, RunFailed, RunCancelled, RunTimedOut}

// Valid reports whether s is one of RunStatuses.
func (s RunStatus) Valid() bool { return slices.Contains(RunStatuses, s) }

// Terminal reports whether a run in status s is over.
func (s RunStatus) Terminal() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled || s == RunTimedOut
}

// StepStatus is where one step of a run is.
type StepStatus string

// Step statuses. A step that has not started has no record.
const (
	StepRunning   StepStatus = "running"
	StepRetrying  StepStatus = "retrying"
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	StepSkipped   StepStatus = "skipped"
	StepCancelled StepStatus = "cancelled"
)

// Terminal reports whether a step in status s is over.
func (s StepStatus) Terminal() bool {
	return s == StepSucceeded || s == StepFailed || s == StepSkipped || s == StepCancelled
}

// Run is one execution of a workflow.
type Run struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	// Workflow is the workflow's name; WorkflowID is "" for an inline
	// workflow that was never stored.
	Workflow   string    `json:"workflow"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	Status     RunStatus `json:"status"`
	// WorkflowRevision and WorkflowVersion are the revision of the stored
	// workflow the run runs and its metadata.version; an inline workflow
	// has neither.
	WorkflowRevision int    `json:"workflow_revision,omitempty"`
	WorkflowVersion  string `json:"workflow_version,omitempty"`
	// Parameters are the run's inputs, a JSON object.
	Parameters json.RawMessage `json:"parameters"`
	// Agents are the agents the run may use; empty means any.
	Agents []string `json:"agents"`
	// Output is the run's result once it succeeded.
	Output json.RawMessage `json:"output,omitempty"`
	// Error says why the run failed, timed out or was cancelled.
	Error string `json:"error,omitempty"`
	// CancelRequested is set by a cancel; the run stops at the next chance.
	CancelRequested bool       `json:"cancel_requested,omitempty"`
	Steps           []*StepRun `json:"steps"`
	// Definition is the workflow as JSON, fixed when the run was created so
	// that editing or deleting the workflow leaves the run alone.
	Definition json.RawMessage `json:"-"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// StepRun is the state of one step of a run. Steps nested in Parallel,
// Conditional and Loop steps have path IDs: "fan/a", "each[2]/score".
type StepRun struct {
	ID     string     `json:"id"`
	Status StepStatus `json:"status"`
	// Agent is the name of the agent the last attempt called, if any.
	Agent    string `json:"agent,omitempty"`
	Attempts int    `json:"attempts"`
	// Choice says why Agent was picked, for a step that said what it needs
	// (query) rather than which agent does it.
	Choice *StepChoice `json:"choice,omitempty"`
	// Output is the step's result once it succeeded.
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// StepChoice is how discovery picked the agent of a query step: the
// step's text, the agent's score and rank, and what matched.
type StepChoice struct {
	Query string `json:"query"`
	// Score, Similarity and Matched are the agent's Discovered ones.
	Score      float64  `json:"score"`
	Similarity *float32 `json:"similarity,omitempty"`
	Matched    []string `json:"matched"`
	// Rank is the agent's place in discovery's ranking, from 1 (agents
	// unavailable or not allowed count: a rank of 2 says a better one was
	// passed over). Candidates is how many available agents the run could
	// choose from; a retry takes the best that has not failed the step.
	Rank       int `json:"rank"`
	Candidates int `json:"candidates"`
}

// Step returns the run's step with that ID, or nil.
func (r *Run) Step(id string) *StepRun {
	for _, s := range r.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// RunFilter selects runs of one namespace. Zero fields match everything.
type RunFilter struct {
	Namespace string
	Status    RunStatus
	// Workflow is a workflow name.
	Workflow string
	After    string
	Limit    int
}

// RunPage is one page of runs, newest first. Listed runs carry no steps.
type RunPage struct {
	Items []*Run
	Next  string
}

// RunStore keeps runs for the API.
type RunStore interface {
	// CreateRun stores r as queued, setting its ID and CreatedAt, and
	// enqueues it for execution in the same transaction, whether or not this
	// store's queue works jobs (another replica's may). It is EUNAVAILABLE
	// once the store is closed.
	CreateRun(ctx context.Context, r *Run) error
	// FindRun returns the run with its steps in start order, or ENOTFOUND.
	FindRun(ctx context.Context, namespace, id string) (*Run, error)
	// ListRuns returns one page of runs that match f, newest first.
	ListRuns(ctx context.Context, f RunFilter) (RunPage, error)
	// CancelRun asks the run to stop: a queued run becomes cancelled at
	// once; a running one gets CancelRequested and its executor stops it.
	// A finished run is returned unchanged.
	CancelRun(ctx context.Context, namespace, id string) (*Run, error)
	// CountRuns counts the namespace's unfinished runs, or every
	// namespace's with AllNamespaces, for metrics read at every scrape: it
	// reads the index entries of unfinished runs and at most one run, so
	// it stays cheap on a big runs table.
	CountRuns(ctx context.Context, namespace string) (RunCounts, error)
}

// RunCounts are the unfinished runs of a namespace, or of all.
type RunCounts struct {
	Queued, Running int
	// OldestQueued is when the oldest queued run (the one with the
	// smallest ID: IDs are UUIDv7, ordered by creation) was created; zero
	// when no run is queued.
	OldestQueued time.Time
}

// RunLedger is what the engine needs of the store to execute runs: a lease
// that makes one executor at a time own a run, and checkpoints of its steps.
// Every write is refused (ECONFLICT) unless owner holds the lease.
type RunLedger interface {
	// AcquireRun takes the lease of a run that is not finished and whose
	// lease is free or expired, until the given time, marks it running, and
	// returns it with its steps. A run leased by another owner is
	// ECONFLICT; a finished run is returned as it is, without a lease.
	AcquireRun(ctx context.Context, id, owner string, until time.Time) (*Run, error)
	// RenewRun extends the lease and reports whether a cancel was requested.
	RenewRun(ctx context.Context, id, owner string, until time.Time) (cancelRequested bool, err error)
	// SaveStep inserts or replaces the state of one step.
	SaveStep(ctx context.Context, runID, owner string, s *StepRun) error
	// FinishRun sets a terminal status, the output or error, and frees the
	// lease.
	FinishRun(ctx context.Context, runID, owner string, status RunStatus, output json.RawMessage, msg string) error
	// RequeueOrphans finds the runs whose executor died: unfinished runs
	// whose lease expired before now, and queued runs that nobody leases
	// while their job has been running (fetched by an executor) since
	// before now-stuck, so that the executor died between fetching the job
	// and taking the lease. It enqueues each again, asks the queue to
	// cancel the dead executor's job, and leases the run to nobody until
	// now+grace, so one orphan is requeued once per grace. It returns the
	// IDs requeued.
	RequeueOrphans(ctx context.Context, now time.Time, grace, stuck time.Duration) ([]string, error)
	// PruneRuns deletes, with their steps, up to limit finished runs
	// (succeeded, failed, cancelled or timed out) that finished before
	// before, the oldest first, in one transaction, and returns how many it
	// deleted. Queued and running runs are never deleted.
	PruneRuns(ctx context.Context, before time.Time, limit int) (int64, error)
}

// RunExecutor executes runs: the engine. The store's queue calls it for
// every queued or requeued run. An error makes the queue retry later.
type RunExecutor interface {
	ExecuteRun(ctx context.Context, runID string) error
	// ReapOrphans is called periodically by one replica to requeue the runs
	// of executors that died.
	ReapOrphans(ctx context.Context) error
	// PruneOldRuns is called periodically by one replica to delete the
	// finished runs older than the retention the executor keeps them for.
	PruneOldRuns(ctx context.Context) error
}

// ExecuteRequest is the body of a direct agent call.
type ExecuteRequest struct {
	Capability string          `json:"capability,omitempty"`
	Input      json.RawMessage `json:"input"`
	// IdempotencyKey is passed to the agent; the task ID when empty. The
	// API takes it from the request's Idempotency-Key header.
	IdempotencyKey string `json:"-"`
}

// Execution is the result of a direct agent call that succeeded. A failed
// call is an error: EBADGATEWAY when the agent failed or answered badly,
// ETIMEOUT when it did not answer in time.
type Execution struct {
	TaskID string          `json:"task_id"`
	Status string          `json:"status"`
	Agent  string          `json:"agent"`
	Output json.RawMessage `json:"output"`
}

// Orchestrator is the engine as the API sees it.
type Orchestrator interface {
	// NewRun checks a workflow (stored, or inline and never stored), the
	// agents the run may use and its parameters, and returns the run to
	// store with RunStore.CreateRun. Every problem is reported: EINVALID
	// with a field per problem (parameters against the workflow's inputs
	// schema, steps no agent can run), ENOTFOUND for an unknown agent.
	NewRun(ctx context.Context, namespace string, wf *Workflow, agents []string, params json.RawMessage) (*Run, error)
	// Execute calls one agent, by ID or name, through the gateway.
	Execute(ctx context.Context, namespace, ref string, req ExecuteRequest) (*Execution, error)
}
