package platform

import (
	"context"
	"encoding/json"
	"time"
)

// Workflow is a stored OSSA Workflow manifest, validated when it was
// stored, for runs to execute.
type Workflow struct {
	ID          string `json:"id"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	Version     string `json:"version,omitempty"`
	Revision    int    `json:"revision"` // 1 when created, one more with each stored change
	Description string `json:"description,omitempty"`
	// APIVersion is the manifest's OSSA apiVersion.
	APIVersion string `json:"api_version"`
	// Definition is the manifest as JSON, what the engine reads.
	Definition json.RawMessage `json:"definition"`
	// Manifest is the manifest exactly as submitted.
	Manifest  *ManifestSource `json:"-"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// WorkflowRevision is one stored state of a workflow: what it was from
// CreatedAt until the next revision.
type WorkflowRevision struct {
	WorkflowID  string `json:"workflow_id"`
	Name        string `json:"name"`
	Revision    int    `json:"revision"`
	Version     string `json:"version,omitempty"`
	Description string `json:"description,omitempty"`
	APIVersion  string `json:"api_version"`
	// Definition is the manifest as JSON; listed revisions leave it out.
	Definition json.RawMessage `json:"definition,omitempty"`
	// Manifest is the manifest as submitted for this revision.
	Manifest  *ManifestSource `json:"-"`
	CreatedAt time.Time       `json:"created_at"`
}

// Workflow returns the workflow as it was at this revision, for a run of
// it: its definition, its metadata then, and its ID and name.
func (r *WorkflowRevision) Workflow(namespace string) *Workflow {
	return &Workflow{ID: r.WorkflowID, Namespace: namespace, Name: r.Name, Version: r.Version, Description: r.Description,
		APIVersion: r.APIVersion, Definition: r.Definition, Manifest: r.Manifest, Revision: r.Revision,
		CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt}
}

// RevisionFilter selects one page of a workflow's revisions, newest first.
type RevisionFilter struct {
	Namespace string
	// Workflow is the workflow's ID or name.
	Workflow string
	After    string
	Limit    int
}

// RevisionPage is one page of revisions, newest first, without their
// definitions and manifests.
type RevisionPage struct {
	Items []*WorkflowRevision
	Next  string
}

// WorkflowChange says what PutWorkflow did.
type WorkflowChange string

// What PutWorkflow did: created the workflow (revision 1), stored a new
// revision of it, or nothing, since it already was so.
const (
	WorkflowCreated   WorkflowChange = "created"
	WorkflowUpdated   WorkflowChange = "updated"
	WorkflowUnchanged WorkflowChange = "unchanged"
)

// WorkflowFilter selects workflows: one namespace, one page.
type WorkflowFilter struct {
	Namespace string
	After     string
	Limit     int
}

// WorkflowPage is one page of workflows in ID order.
type WorkflowPage struct {
	Items []*Workflow
	Next  string
}

// WorkflowStore keeps workflow definitions. ref is an ID or a name.
type WorkflowStore interface {
	// CreateWorkflow stores w, setting its ID and timestamps; a name taken
	// in the namespace is ECONFLICT.
	CreateWorkflow(ctx context.Context, w *Workflow) error
	// FindWorkflow returns the workflow with that ID or name, or ENOTFOUND.
	FindWorkflow(ctx context.Context, namespace, ref string) (*Workflow, error)
	// ListWorkflows returns one page of a namespace's workflows.
	ListWorkflows(ctx context.Context, f WorkflowFilter) (WorkflowPage, error)
	// DeleteWorkflow removes the workflow and its revisions, or returns
	// ENOTFOUND. Its runs stay.
	DeleteWorkflow(ctx context.Context, namespace, ref string) error
	// PutWorkflow stores w under its name: as a new workflow (revision 1)
	// when the name is free in the namespace, else as the next revision of
	// the workflow of that name, which keeps its ID and creation time. A w
	// the same as the stored workflow (the same manifest, or without
	// manifests the same definition, and the same version, description and
	// API version) stores nothing: WorkflowUnchanged. check, when not nil,
	// is called in the transaction with the stored workflow (nil when there
	// is none) before anything is written; its error is returned as it is
	// and nothing is stored. On success w is set to the workflow as stored.
	// Concurrent puts of one name each store a revision of their own.
	PutWorkflow(ctx context.Context, w *Workflow, check func(current *Workflow) error) (WorkflowChange, error)
	// ListWorkflowRevisions returns one page of a workflow's revisions,
	// newest first, or ENOTFOUND for an unknown workflow.
	ListWorkflowRevisions(ctx context.Context, f RevisionFilter) (RevisionPage, error)
	// FindWorkflowRevision returns one revision of a workflow with its
	// definition and manifest, or ENOTFOUND.
	FindWorkflowRevision(ctx context.Context, namespace, ref string, revision int) (*WorkflowRevision, error)
}

// The errors every WorkflowStore returns, worded alike on every backend (the
// shared store suite checks the wording).

// WorkflowNotFound is the error for a workflow ref that names nothing.
func WorkflowNotFound(ref string) error {
	return Errorf(ENOTFOUND, "workflow %q not found", ref)
}

// RevisionNotFound is the error for a revision a workflow does not have.
func RevisionNotFound(ref string, revision int) error {
	return Errorf(ENOTFOUND, "workflow %q has no revision %d", ref, revision)
}

// InvalidDefinition is the error for a definition that is not JSON.
func InvalidDefinition() error {
	return &Error{Code: EINVALID, Message: "the workflow is not valid",
		Fields: []FieldError{{Field: "/definition", Message: "must be a JSON document"}}}
}

// BadCursor is the error for a page position that no page gave out.
func BadCursor() error {
	return &Error{Code: EINVALID, Message: "the page cursor is not valid",
		Fields: []FieldError{{Field: "after", Message: "must be the next cursor of a previous page"}}}
}
