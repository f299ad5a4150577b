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
	// DeleteWorkflow removes the workflow, or returns ENOTFOUND.
	DeleteWorkflow(ctx context.Context, namespace, ref string) error
}

// The errors every WorkflowStore returns, worded alike on every backend (the
// shared store suite checks the wording).

// WorkflowNotFound is the error for a workflow ref that names nothing.
func WorkflowNotFound(ref string) error {
	return Errorf(ENOTFOUND, "workflow %q not found", ref)
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
