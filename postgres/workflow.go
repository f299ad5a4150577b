package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
)

const workflowColumns = `id, namespace, name, version, description, api_version, definition, created_at, updated_at`

// CreateWorkflow stores a new workflow, setting its ID and timestamps.
func (db *DB) CreateWorkflow(ctx context.Context, w *platform.Workflow) error {
	if !json.Valid(w.Definition) {
		return platform.InvalidDefinition()
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	row := *w
	if row.Namespace == "" {
		row.Namespace = platform.DefaultNamespace
	}
	now := db.timestamp()
	row.ID, row.CreatedAt, row.UpdatedAt = id.String(), now, now
	err = db.change(ctx, func(tx pgx.Tx) error {
		format, body := manifestArgs(row.Manifest)
		_, err := tx.Exec(ctx, `INSERT INTO workflows (`+workflowColumns+`, `+manifestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			row.ID, row.Namespace, row.Name, row.Version, row.Description, row.APIVersion,
			row.Definition, row.CreatedAt, row.UpdatedAt, format, body)
		if err != nil {
			return workflowError(err, &row)
		}
		return insertEvent(ctx, tx, platform.WorkflowEvent(platform.EventWorkflowCreated, &row, now))
	})
	if err != nil {
		return err
	}
	*w = row
	return nil
}

// FindWorkflow returns the workflow with that ID or name, with its manifest.
func (db *DB) FindWorkflow(ctx context.Context, namespace, ref string) (*platform.Workflow, error) {
	cond, arg := byRef(ref)
	row := db.pool.QueryRow(ctx, `SELECT `+workflowColumns+`, `+manifestColumns+`
		FROM workflows WHERE namespace = $1 AND `+cond, namespace, arg)
	return scanWorkflow(row, ref, true)
}

// ListWorkflows returns one page of a namespace's workflows in ID order,
// with their definitions but without their manifests.
func (db *DB) ListWorkflows(ctx context.Context, f platform.WorkflowFilter) (platform.WorkflowPage, error) {
	if f.Limit <= 0 {
		f.Limit = platform.DefaultPageSize
	}
	f.Limit = min(f.Limit, platform.MaxPageSize)
	// The nil UUID sorts before every UUIDv7, so no cursor means all.
	var after uuid.UUID
	if f.After != "" {
		var err error
		if after, err = uuid.Parse(f.After); err != nil {
			return platform.WorkflowPage{}, platform.BadCursor()
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT `+workflowColumns+` FROM workflows
		WHERE namespace = $1 AND id > $2::uuid ORDER BY id LIMIT $3`, f.Namespace, after.String(), f.Limit+1)
	if err != nil {
		return platform.WorkflowPage{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*platform.Workflow, error) {
		return scanWorkflow(r, "", false)
	})
	if err != nil {
		return platform.WorkflowPage{}, err
	}
	page := platform.WorkflowPage{Items: items}
	if len(items) > f.Limit {
		page.Items = items[:f.Limit]
		page.Next = page.Items[f.Limit-1].ID
	}
	return page, nil
}

// DeleteWorkflow removes one workflow.
func (db *DB) DeleteWorkflow(ctx context.Context, namespace, ref string) error {
	return db.change(ctx, func(tx pgx.Tx) error {
		cond, arg := byRef(ref)
		w := platform.Workflow{Namespace: namespace}
		err := tx.QueryRow(ctx, `DELETE FROM workflows WHERE namespace = $1 AND `+cond+` RETURNING id::text, name, version`,
			namespace, arg).Scan(&w.ID, &w.Name, &w.Version)
		if errors.Is(err, pgx.ErrNoRows) {
			return platform.WorkflowNotFound(ref)
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, platform.WorkflowEvent(platform.EventWorkflowDeleted, &w, db.timestamp()))
	})
}

// scanWorkflow reads one workflow, with its manifest when the row has
// manifestColumns; a missing row is ENOTFOUND for ref.
func scanWorkflow(row pgx.Row, ref string, withManifest bool) (*platform.Workflow, error) {
	var (
		w      platform.Workflow
		format *string
		body   []byte
	)
	dest := []any{&w.ID, &w.Namespace, &w.Name, &w.Version, &w.Description, &w.APIVersion, &w.Definition,
		&w.CreatedAt, &w.UpdatedAt}
	if withManifest {
		dest = append(dest, &format, &body)
	}
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, platform.WorkflowNotFound(ref)
	}
	if err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	w.Manifest = manifestOf(format, body)
	return &w, nil
}

// workflowError turns the unique violation of (namespace, name) into a
// conflict that names the workflow; other errors pass through.
func workflowError(err error, w *platform.Workflow) error {
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "a workflow named %q already exists in namespace %q", w.Name, w.Namespace)
	}
	if err != nil {
		return fmt.Errorf("write workflow %q: %w", w.Name, err)
	}
	return nil
}
