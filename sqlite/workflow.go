package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

const workflowColumns = `id, namespace, name, version, description, api_version, definition, created_at, updated_at, revision`

// revisionColumns are a revision's, read with the workflow's name; a
// listed revision leaves out revisionDetail.
const (
	revisionColumns = `r.workflow_id, w.name, r.revision, r.version, r.description, r.api_version, r.created_at`
	revisionDetail  = `r.definition, r.manifest_format, r.manifest_body`
)

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
	row.ID, row.CreatedAt, row.UpdatedAt, row.Revision = id.String(), now, now, 1
	err = db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error { return insertWorkflow(ctx, tx, rec, &row) })
	if platform.ErrorCode(err) == platform.ECONFLICT {
		return platform.Errorf(platform.ECONFLICT, "a workflow named %q already exists in namespace %q", row.Name, row.Namespace)
	}
	if err != nil {
		return err
	}
	*w = row
	return nil
}

// insertWorkflow writes a new workflow and its first revision, and records
// its workflow.created event.
func insertWorkflow(ctx context.Context, tx *sql.Tx, rec *sqlstore.Recorder, w *platform.Workflow) error {
	format, body := sqlstore.ManifestArgs(w.Manifest)
	_, err := tx.ExecContext(ctx, `INSERT INTO workflows (`+workflowColumns+`, `+manifestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Namespace, w.Name, w.Version, w.Description, w.APIVersion,
		string(w.Definition), w.CreatedAt.UnixMicro(), w.UpdatedAt.UnixMicro(), w.Revision, format, body)
	if err != nil {
		return translate(err)
	}
	if err := insertRevision(ctx, tx, w); err != nil {
		return err
	}
	rec.Event(platform.WorkflowEvent(platform.EventWorkflowCreated, w, w.UpdatedAt))
	rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowCreate, w))
	return nil
}

// insertRevision keeps w, as it now is, as its revision w.Revision.
func insertRevision(ctx context.Context, tx *sql.Tx, w *platform.Workflow) error {
	format, body := sqlstore.ManifestArgs(w.Manifest)
	_, err := tx.ExecContext(ctx, `INSERT INTO workflow_revisions (workflow_id, revision, version, description,
		api_version, definition, manifest_format, manifest_body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Revision, w.Version, w.Description, w.APIVersion, string(w.Definition), format, body, w.UpdatedAt.UnixMicro())
	return translate(err)
}

// PutWorkflow creates the workflow of w's name or stores its next
// revision. The transaction holds SQLite's write lock from its start, so
// puts of one name take turns.
func (db *DB) PutWorkflow(ctx context.Context, w *platform.Workflow, check func(*platform.Workflow) error) (platform.WorkflowChange, error) {
	if !json.Valid(w.Definition) {
		return "", platform.InvalidDefinition()
	}
	row := *w
	if row.Namespace == "" {
		row.Namespace = platform.DefaultNamespace
	}
	var change platform.WorkflowChange
	err := db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		cur, err := scanWorkflow(tx.QueryRowContext(ctx, `SELECT `+workflowColumns+`, `+manifestColumns+`
			FROM workflows WHERE namespace = ? AND name = ?`, row.Namespace, row.Name), true)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = nil
		case err != nil:
			return err
		}
		if check != nil {
			if err := check(cur); err != nil {
				return err
			}
		}
		now := db.timestamp()
		switch {
		case cur == nil:
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			row.ID, row.CreatedAt, row.UpdatedAt, row.Revision = id.String(), now, now, 1
			change = platform.WorkflowCreated
			return insertWorkflow(ctx, tx, rec, &row)
		case sqlstore.SameWorkflow(cur, &row):
			row, change = *cur, platform.WorkflowUnchanged
			return nil
		}
		row.ID, row.CreatedAt, row.UpdatedAt, row.Revision = cur.ID, cur.CreatedAt, now, cur.Revision+1
		change = platform.WorkflowUpdated
		format, body := sqlstore.ManifestArgs(row.Manifest)
		if _, err := tx.ExecContext(ctx, `UPDATE workflows SET version = ?, description = ?, api_version = ?,
			definition = ?, manifest_format = ?, manifest_body = ?, updated_at = ?, revision = ? WHERE id = ?`,
			row.Version, row.Description, row.APIVersion, string(row.Definition), format, body,
			row.UpdatedAt.UnixMicro(), row.Revision, row.ID); err != nil {
			return translate(err)
		}
		if err := insertRevision(ctx, tx, &row); err != nil {
			return err
		}
		rec.Event(platform.WorkflowEvent(platform.EventWorkflowUpdated, &row, now))
		rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowUpdate, &row))
		return nil
	})
	if err != nil {
		return "", err
	}
	*w = row
	return change, nil
}

// ListWorkflowRevisions returns one page of a workflow's revisions, newest
// first, without their definitions and manifests.
func (db *DB) ListWorkflowRevisions(ctx context.Context, f platform.RevisionFilter) (platform.RevisionPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	after, err := sqlstore.RevisionCursor(f.After)
	if err != nil {
		return platform.RevisionPage{}, err
	}
	cond, arg := workflowByRef(f.Workflow)
	var id string
	err = db.db.QueryRowContext(ctx, `SELECT id FROM workflows WHERE namespace = ? AND `+cond, f.Namespace, arg).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return platform.RevisionPage{}, platform.WorkflowNotFound(f.Workflow)
	}
	if err != nil {
		return platform.RevisionPage{}, err
	}
	query := `SELECT ` + revisionColumns + ` FROM workflow_revisions r JOIN workflows w ON w.id = r.workflow_id
		WHERE r.workflow_id = ?`
	args := []any{id}
	if after > 0 {
		query, args = query+` AND r.revision < ?`, append(args, after)
	}
	rows, err := db.db.QueryContext(ctx, query+` ORDER BY r.revision DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return platform.RevisionPage{}, err
	}
	defer rows.Close()
	var items []*platform.WorkflowRevision
	for rows.Next() {
		r, err := scanRevision(rows, false)
		if err != nil {
			return platform.RevisionPage{}, err
		}
		items = append(items, r)
	}
	if err := rows.Err(); err != nil {
		return platform.RevisionPage{}, err
	}
	return sqlstore.RevisionPage(items, limit), nil
}

// FindWorkflowRevision returns one revision with its definition and
// manifest.
func (db *DB) FindWorkflowRevision(ctx context.Context, namespace, ref string, revision int) (*platform.WorkflowRevision, error) {
	cond, arg := workflowByRef(ref)
	cond = "w." + cond
	r, err := scanRevision(db.db.QueryRowContext(ctx, `SELECT `+revisionColumns+`, `+revisionDetail+`
		FROM workflow_revisions r JOIN workflows w ON w.id = r.workflow_id
		WHERE w.namespace = ? AND `+cond+` AND r.revision = ?`, namespace, arg, revision), true)
	if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	if _, err := db.FindWorkflow(ctx, namespace, ref); err != nil {
		return nil, err
	}
	return nil, platform.RevisionNotFound(ref, revision)
}

// scanRevision reads one revision, with its definition and manifest when
// the row has revisionDetail.
func scanRevision(s scanner, withDetail bool) (*platform.WorkflowRevision, error) {
	var (
		r       platform.WorkflowRevision
		created int64
		def     string
		format  sql.NullString
		body    []byte
	)
	dest := []any{&r.WorkflowID, &r.Name, &r.Revision, &r.Version, &r.Description, &r.APIVersion, &created}
	if withDetail {
		dest = append(dest, &def, &format, &body)
	}
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	if withDetail {
		r.Definition = json.RawMessage(def)
		r.Manifest = manifestOf(format, body)
	}
	return &r, nil
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
	return db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
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
		rec.Event(platform.WorkflowEvent(platform.EventWorkflowDeleted, &w, db.timestamp()))
		rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowDelete, &w))
		return nil
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
		&createdMicro, &updatedMu, &w.Revision}
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
