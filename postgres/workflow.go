package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

const workflowColumns = `id, namespace, name, version, description, api_version, definition, created_at, updated_at, revision`

// revisionColumns are a revision's, read with the workflow's name; a
// listed revision leaves out revisionDetail.
const (
	revisionColumns = `r.workflow_id::text, w.name, r.revision, r.version, r.description, r.api_version, r.created_at`
	revisionDetail  = `r.definition, r.manifest_format, r.manifest_body`
)

// errNameTaken ends a PutWorkflow attempt that lost the race to create its
// name; the next attempt stores a revision of the winner's workflow.
var errNameTaken = errors.New("the name was taken meanwhile")

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
	err = db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		format, body := sqlstore.ManifestArgs(row.Manifest)
		_, err := tx.Exec(ctx, `INSERT INTO workflows (`+workflowColumns+`, `+manifestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			row.ID, row.Namespace, row.Name, row.Version, row.Description, row.APIVersion,
			row.Definition, row.CreatedAt, row.UpdatedAt, row.Revision, format, body)
		if err != nil {
			return workflowError(err, &row)
		}
		if err := insertRevision(ctx, tx, &row); err != nil {
			return err
		}
		rec.Event(platform.WorkflowEvent(platform.EventWorkflowCreated, &row, now))
		rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowCreate, &row))
		return nil
	})
	if err != nil {
		return err
	}
	*w = row
	return nil
}

// insertRevision keeps w, as it now is, as its revision w.Revision.
func insertRevision(ctx context.Context, tx pgx.Tx, w *platform.Workflow) error {
	format, body := sqlstore.ManifestArgs(w.Manifest)
	_, err := tx.Exec(ctx, `INSERT INTO workflow_revisions (workflow_id, revision, version, description,
		api_version, definition, manifest_format, manifest_body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		w.ID, w.Revision, w.Version, w.Description, w.APIVersion, w.Definition, format, body, w.UpdatedAt)
	if err != nil {
		return fmt.Errorf("write revision %d of workflow %q: %w", w.Revision, w.Name, err)
	}
	return nil
}

// PutWorkflow creates the workflow of w's name or stores its next
// revision. The stored workflow's row is locked while its next revision
// is written, so concurrent puts of one name take turns and each stores a
// revision; a put that finds no workflow and then loses the race to create
// it starts over and stores a revision of the winner's.
func (db *DB) PutWorkflow(ctx context.Context, w *platform.Workflow, check func(*platform.Workflow) error) (platform.WorkflowChange, error) {
	if !json.Valid(w.Definition) {
		return "", platform.InvalidDefinition()
	}
	in := *w
	if in.Namespace == "" {
		in.Namespace = platform.DefaultNamespace
	}
	for attempt := 1; ; attempt++ {
		row := in
		var change platform.WorkflowChange
		err := db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
			var err error
			change, err = putWorkflow(ctx, tx, rec, &row, check, db.timestamp)
			return err
		})
		if errors.Is(err, errNameTaken) {
			if attempt < sqlstore.PutAttempts {
				continue
			}
			return "", platform.Errorf(platform.ECONFLICT, "workflow %q was created and removed again while it was being stored; try again", in.Name)
		}
		if err != nil {
			return "", err
		}
		*w = row
		return change, nil
	}
}

// putWorkflow is one attempt of PutWorkflow in tx.
func putWorkflow(ctx context.Context, tx pgx.Tx, rec *sqlstore.Recorder, row *platform.Workflow, check func(*platform.Workflow) error,
	timestamp func() time.Time) (platform.WorkflowChange, error) {
	cur, err := scanWorkflow(tx.QueryRow(ctx, `SELECT `+workflowColumns+`, `+manifestColumns+`
		FROM workflows WHERE namespace = $1 AND name = $2 FOR UPDATE`, row.Namespace, row.Name), row.Name, true)
	switch {
	case platform.ErrorCode(err) == platform.ENOTFOUND:
		cur = nil
	case err != nil:
		return "", err
	}
	if check != nil {
		if err := check(cur); err != nil {
			return "", err
		}
	}
	now := timestamp()
	format, body := sqlstore.ManifestArgs(row.Manifest)
	switch {
	case cur == nil:
		id, err := uuid.NewV7()
		if err != nil {
			return "", err
		}
		row.ID, row.CreatedAt, row.UpdatedAt, row.Revision = id.String(), now, now, 1
		tag, err := tx.Exec(ctx, `INSERT INTO workflows (`+workflowColumns+`, `+manifestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (namespace, name) DO NOTHING`,
			row.ID, row.Namespace, row.Name, row.Version, row.Description, row.APIVersion,
			row.Definition, row.CreatedAt, row.UpdatedAt, row.Revision, format, body)
		if err != nil {
			return "", workflowError(err, row)
		}
		if tag.RowsAffected() == 0 {
			return "", errNameTaken
		}
		if err := insertRevision(ctx, tx, row); err != nil {
			return "", err
		}
		rec.Event(platform.WorkflowEvent(platform.EventWorkflowCreated, row, now))
		rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowCreate, row))
		return platform.WorkflowCreated, nil
	case sqlstore.SameWorkflow(cur, row):
		*row = *cur
		return platform.WorkflowUnchanged, nil
	}
	row.ID, row.CreatedAt, row.UpdatedAt, row.Revision = cur.ID, cur.CreatedAt, now, cur.Revision+1
	if _, err := tx.Exec(ctx, `UPDATE workflows SET version = $2, description = $3, api_version = $4, definition = $5,
		manifest_format = $6, manifest_body = $7, updated_at = $8, revision = $9 WHERE id = $1`,
		row.ID, row.Version, row.Description, row.APIVersion, row.Definition, format, body, row.UpdatedAt, row.Revision); err != nil {
		return "", workflowError(err, row)
	}
	if err := insertRevision(ctx, tx, row); err != nil {
		return "", err
	}
	rec.Event(platform.WorkflowEvent(platform.EventWorkflowUpdated, row, now))
	rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowUpdate, row))
	return platform.WorkflowUpdated, nil
}

// ListWorkflowRevisions returns one page of a workflow's revisions, newest
// first, without their definitions and manifests.
func (db *DB) ListWorkflowRevisions(ctx context.Context, f platform.RevisionFilter) (platform.RevisionPage, error) {
	limit := sqlstore.PageSize(f.Limit)
	after, err := sqlstore.RevisionCursor(f.After)
	if err != nil {
		return platform.RevisionPage{}, err
	}
	cond, arg := byRef(f.Workflow)
	var id string
	err = db.pool.QueryRow(ctx, `SELECT id::text FROM workflows WHERE namespace = $1 AND `+cond, f.Namespace, arg).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return platform.RevisionPage{}, platform.WorkflowNotFound(f.Workflow)
	}
	if err != nil {
		return platform.RevisionPage{}, err
	}
	if after == 0 {
		after = math.MaxInt32
	}
	rows, err := db.pool.Query(ctx, `SELECT `+revisionColumns+` FROM workflow_revisions r JOIN workflows w ON w.id = r.workflow_id
		WHERE r.workflow_id = $1 AND r.revision < $2 ORDER BY r.revision DESC LIMIT $3`, id, after, limit+1)
	if err != nil {
		return platform.RevisionPage{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*platform.WorkflowRevision, error) {
		return scanRevision(r, false)
	})
	if err != nil {
		return platform.RevisionPage{}, err
	}
	return sqlstore.RevisionPage(items, limit), nil
}

// FindWorkflowRevision returns one revision with its definition and
// manifest.
func (db *DB) FindWorkflowRevision(ctx context.Context, namespace, ref string, revision int) (*platform.WorkflowRevision, error) {
	cond, arg := byRef(ref)
	r, err := scanRevision(db.pool.QueryRow(ctx, `SELECT `+revisionColumns+`, `+revisionDetail+`
		FROM workflow_revisions r JOIN workflows w ON w.id = r.workflow_id
		WHERE w.namespace = $1 AND w.`+cond+` AND r.revision = $3`, namespace, arg, revision), true)
	if !errors.Is(err, pgx.ErrNoRows) {
		return r, err
	}
	if _, err := db.FindWorkflow(ctx, namespace, ref); err != nil {
		return nil, err
	}
	return nil, platform.RevisionNotFound(ref, revision)
}

// scanRevision reads one revision, with its definition and manifest when
// the row has revisionDetail.
func scanRevision(row pgx.Row, withDetail bool) (*platform.WorkflowRevision, error) {
	var (
		r      platform.WorkflowRevision
		format *string
		body   []byte
	)
	dest := []any{&r.WorkflowID, &r.Name, &r.Revision, &r.Version, &r.Description, &r.APIVersion, &r.CreatedAt}
	if withDetail {
		dest = append(dest, &r.Definition, &format, &body)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if withDetail {
		r.Manifest = manifestOf(format, body)
	}
	return &r, nil
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
	return db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
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
		rec.Event(platform.WorkflowEvent(platform.EventWorkflowDeleted, &w, db.timestamp()))
		rec.Audit(platform.NewWorkflowAudit(ctx, platform.AuditWorkflowDelete, &w))
		return nil
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
		&w.CreatedAt, &w.UpdatedAt, &w.Revision}
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
