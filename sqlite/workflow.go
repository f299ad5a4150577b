package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
)

const workflowColumns = `id, namespace, name, version, description, api_version, definition, created_at, updated_at`

// workflowByRef returns the condition, on one placeholder, and its argument
// that select the workflow ref names: an ID when ref has the 36-character
// form of one, written canonically, else a name.
func workflowByRef(ref string) (string, any) {
	if len(ref) == 36 {
		if id, err := uuid.Parse(ref); err == nil {
			return "id = ?", id.String()
		}
	}
	return "name = ?", ref
}

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
	err = db.change(ctx, func(tx *sql.Tx) error {
		format, body := manifestArgs(row.Manifest)
		_, err := tx.ExecContext(ctx, `INSERT INTO workflows (`+workflowColumns+`, `+manifestColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			row.ID, row.Namespace, row.Name, row.Version, row.Description, row.APIVersion,
			string(row.Definition), row.CreatedAt.UnixMicro(), row.UpdatedAt.UnixMicro(), format, body)
		if err != nil {
			return translate(err)
		}
		return insertEvent(ctx, tx, platform.WorkflowEvent(platform.EventWorkflowCreated, &row, now))
	})
	if platform.ErrorCode(err) == platform.ECONFLICT {
		return platform.Errorf(platform.ECONFLICT, "a workflow named %q already exists in namespace %q", row.Name, row.Namespace)
	}
	if err != nil {
		return err
	}
	*w = row
	return nil
}

// FindWorkflow returns the workflow with that ID or name, with its manifest.
func (db *DB) FindWorkflow(ctx context.Context, namespace, ref string) (*platform.Workflow, error) {
	cond, arg := workflowByRef(ref)
	row := db.db.QueryRowContext(ctx, `SELECT `+workflowColumns+`, `+manifestColumns+`
		FROM workflows WHERE namespace = ? AND `+cond, namespace, arg)
	w, err := scanWorkflow(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, platform.WorkflowNotFound(ref)
	}
	return w, err
}

// ListWorkflows returns one page of a namespace's workflows in ID order,
// with their definitions but without their manifests.
func (db *DB) ListWorkflows(ctx context.Context, f platform.WorkflowFilter) (platform.WorkflowPage, error) {
	if f.Limit <= 0 {
		f.Limit = platform.DefaultPageSize
	}
	f.Limit = min(f.Limit, platform.MaxPageSize)
	// IDs compare as text here, so a cursor must be an ID in canonical form
	// for the comparison to mean "after"; "" sorts before every ID.
	after := ""
	if f.After != "" {
		id, err := uuid.Parse(f.After)
		if err != nil {
			return platform.WorkflowPage{}, platform.BadCursor()
		}
		after = id.String()
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+workflowColumns+` FROM workflows
		WHERE namespace = ? AND id > ? ORDER BY id LIMIT ?`, f.Namespace, after, f.Limit+1)
	if err != nil {
		return platform.WorkflowPage{}, err
	}
	defer rows.Close()
	var page platform.WorkflowPage
	for rows.Next() {
		w, err := scanWorkflow(rows, false)
		if err != nil {
			return platform.WorkflowPage{}, err
		}
		page.Items = append(page.Items, w)
	}
	if err := rows.Err(); err != nil {
		return platform.WorkflowPage{}, err
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		page.Next = page.Items[f.Limit-1].ID
	}
	return page, nil
}

// DeleteWorkflow removes one workflow.
func (db *DB) DeleteWorkflow(ctx context.Context, namespace, ref string) error {
	return db.change(ctx, func(tx *sql.Tx) error {
		cond, arg := workflowByRef(ref)
		w := platform.Workflow{Namespace: namespace}
		err := tx.QueryRowContext(ctx, `DELETE FROM workflows WHERE namespace = ? AND `+cond+` RETURNING id, name, version`,
			namespace, arg).Scan(&w.ID, &w.Name, &w.Version)
		if errors.Is(err, sql.ErrNoRows) {
			return platform.WorkflowNotFound(ref)
		}
		if err != nil {
			return translate(err)
		}
		return insertEvent(ctx, tx, platform.WorkflowEvent(platform.EventWorkflowDeleted, &w, db.timestamp()))
	})
}

// scanWorkflow reads one workflow, with its manifest when the row has
// manifestColumns.
func scanWorkflow(s scanner, withManifest bool) (*platform.Workflow, error) {
	var (
		w                       platform.Workflow
		def                     string
		createdMicro, updatedMu int64
		format                  sql.NullString
		body                    []byte
	)
	dest := []any{&w.ID, &w.Namespace, &w.Name, &w.Version, &w.Description, &w.APIVersion, &def,
		&createdMicro, &updatedMu}
	if withManifest {
		dest = append(dest, &format, &body)
	}
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	w.Definition = json.RawMessage(def)
	w.CreatedAt = time.UnixMicro(createdMicro).UTC()
	w.UpdatedAt = time.UnixMicro(updatedMu).UTC()
	w.Manifest = manifestOf(format, body)
	return &w, nil
}
