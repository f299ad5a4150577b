package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

const agentColumns = `id, namespace, name, type, capabilities, endpoint, description, version, labels, metadata, status, api_version, created_at, updated_at,
	protocol, health_status, health_reason, health_checked_at, auth`

// manifestColumns follow agentColumns where one whole agent is read. Lists
// leave them out: a manifest can be large, and only its own route serves it.
const manifestColumns = `manifest_format, manifest_body`

// CreateAgent stores a new agent, setting its ID and timestamps.
func (db *DB) CreateAgent(ctx context.Context, a *platform.Agent) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	now := db.timestamp()
	err = db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		row := *a
		row.ID, row.CreatedAt, row.UpdatedAt = id.String(), now, now
		// Health is the gateway's to find out, never the caller's to say.
		row.Health = platform.AgentHealth{Status: platform.HealthUnknown}
		if row.Protocol == "" {
			row.Protocol = platform.ProtocolHTTP
		}
		if err := insertAgent(ctx, tx, &row); err != nil {
			return err
		}
		*a = row
		rec.Event(platform.AgentEvent(platform.EventAgentRegistered, &row, now))
		rec.Audit(platform.NewAgentAudit(ctx, platform.AuditAgentCreate, &row))
		return nil
	})
	return conflictName(err, a)
}

// FindAgent returns the agent with that ID or name.
func (db *DB) FindAgent(ctx context.Context, namespace, ref string) (*platform.Agent, error) {
	return findAgent(ctx, db.db, namespace, ref)
}

// ListAgents returns one page of agents in ID order.
func (db *DB) ListAgents(ctx context.Context, f platform.AgentFilter) (platform.AgentPage, error) {
	where := []string{"namespace = ?"}
	args := []any{f.Namespace}
	if f.Namespace == platform.AllNamespaces {
		where, args = []string{"TRUE"}, nil
	}
	if f.After != "" {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, string(f.Type))
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Capability != "" {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(agents.capabilities) WHERE value = ?)")
		args = append(args, f.Capability)
	}
	for k, v := range f.Labels {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(agents.labels) WHERE key = ? AND value = ?)")
		args = append(args, k, v)
	}
	args = append(args, f.Limit+1)
	rows, err := db.db.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return platform.AgentPage{}, err
	}
	defer rows.Close()
	var page platform.AgentPage
	for rows.Next() {
		a, err := scanAgent(rows, false)
		if err != nil {
			return platform.AgentPage{}, err
		}
		page.Items = append(page.Items, a)
	}
	if err := rows.Err(); err != nil {
		return platform.AgentPage{}, err
	}
	if len(page.Items) > f.Limit {
		page.Items = page.Items[:f.Limit]
		page.Next = page.Items[f.Limit-1].ID
	}
	return page, nil
}

// UpdateAgent reads, changes and writes back one agent in one transaction.
func (db *DB) UpdateAgent(ctx context.Context, namespace, ref string, update func(*platform.Agent) error) (*platform.Agent, error) {
	var out *platform.Agent
	err := db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		a, err := findAgent(ctx, tx, namespace, ref)
		if err != nil {
			return err
		}
		id, created, health := a.ID, a.CreatedAt, a.Health
		if err := update(a); err != nil {
			return err
		}
		// Health is read-only here: only SetAgentHealth writes it.
		a.ID, a.Namespace, a.CreatedAt, a.Health, a.UpdatedAt = id, namespace, created, health, db.timestamp()
		if a.Protocol == "" {
			a.Protocol = platform.ProtocolHTTP
		}
		if !a.UpdatedAt.After(created) {
			a.UpdatedAt = created.Add(time.Microsecond)
		}
		caps, labels := encodeJSON(a.Capabilities), encodeJSON(a.Labels)
		format, body := sqlstore.ManifestArgs(a.Manifest)
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET name = ?, type = ?, capabilities = ?, endpoint = ?,
			description = ?, version = ?, labels = ?, metadata = ?, status = ?, api_version = ?,
			manifest_format = ?, manifest_body = ?, updated_at = ?, protocol = ?, auth = ? WHERE id = ?`,
			a.Name, a.Type, caps, a.Endpoint, a.Description, a.Version, labels, string(a.Metadata), a.Status,
			a.APIVersion, format, body, a.UpdatedAt.UnixMicro(), a.Protocol, sqlstore.AuthArg(a.Auth), a.ID); err != nil {
			return conflictName(translate(err), a)
		}
		out = a
		rec.Event(platform.AgentEvent(platform.EventAgentUpdated, a, a.UpdatedAt))
		rec.Audit(platform.NewAgentAudit(ctx, platform.AuditAgentUpdate, a))
		return nil
	})
	return out, err
}

// DeleteAgent removes one agent.
func (db *DB) DeleteAgent(ctx context.Context, namespace, ref string) error {
	return db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		a := platform.Agent{Namespace: namespace}
		err := tx.QueryRowContext(ctx, `DELETE FROM agents WHERE namespace = ? AND (id = ? OR name = ?) RETURNING id, name`,
			namespace, ref, ref).Scan(&a.ID, &a.Name)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(ref, nil)
		}
		if err != nil {
			return translate(err)
		}
		rec.Event(platform.AgentEvent(platform.EventAgentDeleted, &a, db.timestamp()))
		rec.Audit(platform.NewAgentAudit(ctx, platform.AuditAgentDelete, &a))
		return nil
	})
}

// SetAgentHealth records an agent's health without touching updated_at:
// health is an observation, not an edit.
func (db *DB) SetAgentHealth(ctx context.Context, id string, h platform.AgentHealth) error {
	status, reason, checked := sqlstore.HealthArgs(h)
	return db.change(ctx, func(tx *sql.Tx, rec *sqlstore.Recorder) error {
		a := platform.Agent{ID: id, Health: h}
		var previous platform.HealthStatus
		err := tx.QueryRowContext(ctx, `SELECT namespace, name, health_status FROM agents WHERE id = ?`, id).
			Scan(&a.Namespace, &a.Name, &previous)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(id, nil)
		}
		if err != nil {
			return translate(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET health_status = ?, health_reason = ?, health_checked_at = ?
			WHERE id = ?`, status, reason, microsOrNull(checked), id); err != nil {
			return translate(err)
		}
		if previous != h.Status {
			rec.Event(platform.HealthEvent(&a, previous, db.timestamp()))
		}
		return nil
	})
}

// CountAgents counts agents by type and status.
func (db *DB) CountAgents(ctx context.Context) ([]platform.AgentCount, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT type, status, count(*) FROM agents GROUP BY type, status ORDER BY type, status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []platform.AgentCount
	for rows.Next() {
		var c platform.AgentCount
		if err := rows.Scan(&c.Type, &c.Status, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// timestamp is now at PostgreSQL's precision, so both stores return the
// same values.
func (db *DB) timestamp() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func findAgent(ctx context.Context, q querier, namespace, ref string) (*platform.Agent, error) {
	row := q.QueryRowContext(ctx, `SELECT `+agentColumns+`, `+manifestColumns+`
		FROM agents WHERE namespace = ? AND (id = ? OR name = ?)`, namespace, ref, ref)
	a, err := scanAgent(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(ref, nil)
	}
	return a, err
}

func insertAgent(ctx context.Context, tx *sql.Tx, a *platform.Agent) error {
	format, body := sqlstore.ManifestArgs(a.Manifest)
	status, reason, checked := sqlstore.HealthArgs(a.Health)
	_, err := tx.ExecContext(ctx, `INSERT INTO agents (`+agentColumns+`, `+manifestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Namespace, a.Name, a.Type, encodeJSON(a.Capabilities), a.Endpoint, a.Description, a.Version,
		encodeJSON(a.Labels), string(a.Metadata), a.Status, a.APIVersion, a.CreatedAt.UnixMicro(), a.UpdatedAt.UnixMicro(),
		a.Protocol, status, reason, microsOrNull(checked), sqlstore.AuthArg(a.Auth), format, body)
	return translate(err)
}

type scanner interface{ Scan(dest ...any) error }

// scanAgent reads one agent, with its manifest when the row has
// manifestColumns.
func scanAgent(s scanner, withManifest bool) (*platform.Agent, error) {
	var (
		a                       platform.Agent
		caps, labels, meta      string
		createdMicro, updatedMu int64
		checkedMicro            sql.NullInt64
		format                  sql.NullString
		body, auth              []byte
	)
	dest := []any{&a.ID, &a.Namespace, &a.Name, &a.Type, &caps, &a.Endpoint, &a.Description, &a.Version,
		&labels, &meta, &a.Status, &a.APIVersion, &createdMicro, &updatedMu,
		&a.Protocol, &a.Health.Status, &a.Health.Reason, &checkedMicro, &auth}
	if withManifest {
		dest = append(dest, &format, &body)
	}
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	a.Manifest = manifestOf(format, body)
	var err error
	if a.Auth, err = sqlstore.AuthOf(auth); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(caps), &a.Capabilities); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, err
	}
	a.Metadata = json.RawMessage(meta)
	a.CreatedAt = time.UnixMicro(createdMicro).UTC()
	a.UpdatedAt = time.UnixMicro(updatedMu).UTC()
	a.Health.CheckedAt = timeOrNil(checkedMicro)
	return &a, nil
}

// manifestOf is the inverse of sqlstore.ManifestArgs.
func manifestOf(format sql.NullString, body []byte) *platform.ManifestSource {
	if !format.Valid {
		return nil
	}
	if body == nil {
		body = []byte{}
	}
	return &platform.ManifestSource{Format: format.String, Body: body}
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only slices and maps of strings are encoded here
	}
	return string(b)
}

func notFound(ref string, err error) error {
	if err != nil {
		return err
	}
	return platform.Errorf(platform.ENOTFOUND, "agent %q not found", ref)
}

// conflictName gives a conflict the agent's name and namespace.
func conflictName(err error, a *platform.Agent) error {
	if platform.ErrorCode(err) == platform.ECONFLICT {
		return platform.Errorf(platform.ECONFLICT, "an agent named %q already exists in namespace %q", a.Name, a.Namespace)
	}
	return err
}
