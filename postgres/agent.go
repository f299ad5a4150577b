package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
)

const agentColumns = `id, namespace, name, type, capabilities, endpoint, description, version, labels, metadata, status, api_version, created_at, updated_at,
	protocol, health_status, health_reason, health_checked_at, auth`

// manifestColumns follow agentColumns where one whole agent is read. Lists
// leave them out: a manifest can be large, and only its own route serves it.
const manifestColumns = `manifest_format, manifest_body`

// byRef returns the condition, on $2, and its argument that select the
// agent ref names. IDs are always written in the canonical 8-4-4-4-12 form
// and Agent.Validate forbids names of that form, so the form alone tells
// them apart. Other forms uuid.Parse accepts (32 bare hex digits) are valid
// names, so they stay names.
func byRef(ref string) (string, any) {
	if len(ref) == 36 {
		if id, err := uuid.Parse(ref); err == nil {
			return "id = $2", id.String()
		}
	}
	return "name = $2", ref
}

// CreateAgent stores a new agent, setting its ID and timestamps.
func (db *DB) CreateAgent(ctx context.Context, a *platform.Agent) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	row := *a
	// Health is the gateway's to find out, never the caller's to say.
	row.Health = platform.AgentHealth{}
	row.Normalize()
	now := db.timestamp()
	row.ID, row.CreatedAt, row.UpdatedAt = id.String(), now, now
	err = db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		format, body := sqlstore.ManifestArgs(row.Manifest)
		status, reason, checked := sqlstore.HealthArgs(row.Health)
		_, err := tx.Exec(ctx, `INSERT INTO agents (`+agentColumns+`, `+manifestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`,
			row.ID, row.Namespace, row.Name, row.Type, row.Capabilities, row.Endpoint, row.Description,
			row.Version, row.Labels, row.Metadata, row.Status, row.APIVersion, row.CreatedAt, row.UpdatedAt,
			row.Protocol, status, reason, checked, sqlstore.AuthArg(row.Auth), format, body)
		if err != nil {
			return agentError(err, &row)
		}
		rec.Event(platform.AgentEvent(platform.EventAgentRegistered, &row, now))
		rec.Audit(platform.NewAgentAudit(ctx, platform.AuditAgentCreate, &row))
		return nil
	})
	if err != nil {
		return err
	}
	*a = row
	return nil
}

// FindAgent returns the agent with that ID or name.
func (db *DB) FindAgent(ctx context.Context, namespace, ref string) (*platform.Agent, error) {
	cond, arg := byRef(ref)
	row := db.pool.QueryRow(ctx, `SELECT `+agentColumns+`, `+manifestColumns+` FROM agents WHERE namespace = $1 AND `+cond, namespace, arg)
	return scanAgent(row, ref, true)
}

// ListAgents returns one page of agents in ID order. Being keyset
// pagination, a page never repeats or skips an agent that existed when
// paging began, whatever is created or deleted between pages.
func (db *DB) ListAgents(ctx context.Context, f platform.AgentFilter) (platform.AgentPage, error) {
	// The HTTP layer bounds Limit; these keep a careless caller from
	// slicing out of range below.
	if f.Limit <= 0 {
		f.Limit = platform.DefaultPageSize
	}
	f.Limit = min(f.Limit, platform.MaxPageSize)
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"TRUE"}
	if f.Namespace != platform.AllNamespaces {
		where = []string{"namespace = " + arg(f.Namespace)}
	}
	if f.After != "" {
		after, err := uuid.Parse(f.After)
		if err != nil {
			return platform.AgentPage{}, platform.BadCursor()
		}
		where = append(where, "id > "+arg(after.String())+"::uuid")
	}
	where = append(where, attributeFilter(arg, f.Type, f.Status, f.Capability, f.Labels)...)
	rows, err := db.pool.Query(ctx, `SELECT `+agentColumns+` FROM agents WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id LIMIT `+arg(f.Limit+1), args...)
	if err != nil {
		return platform.AgentPage{}, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*platform.Agent, error) { return scanAgent(r, "", false) })
	if err != nil {
		return platform.AgentPage{}, err
	}
	page := platform.AgentPage{Items: items}
	if len(items) > f.Limit {
		page.Items = items[:f.Limit]
		page.Next = page.Items[f.Limit-1].ID
	}
	return page, nil
}

// UpdateAgent reads the agent with a row lock, lets update change it and
// writes it back, all in one transaction, so concurrent updates of one
// agent take turns and none is lost.
func (db *DB) UpdateAgent(ctx context.Context, namespace, ref string, update func(*platform.Agent) error) (*platform.Agent, error) {
	var out *platform.Agent
	err := db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		cond, arg := byRef(ref)
		row := tx.QueryRow(ctx, `SELECT `+agentColumns+`, `+manifestColumns+` FROM agents
			WHERE namespace = $1 AND `+cond+` FOR UPDATE`, namespace, arg)
		a, err := scanAgent(row, ref, true)
		if err != nil {
			return err
		}
		prev := *a
		if err := update(a); err != nil {
			return err
		}
		// Identity, creation time and health are the store's, whatever
		// update did: only SetAgentHealth writes health.
		a.ID, a.Namespace, a.CreatedAt, a.Health = prev.ID, prev.Namespace, prev.CreatedAt, prev.Health
		a.Normalize()
		// updated_at always moves forward, even within one microsecond or
		// when the clock steps back, so it can serve as a version.
		a.UpdatedAt = db.timestamp()
		if !a.UpdatedAt.After(prev.UpdatedAt) {
			a.UpdatedAt = prev.UpdatedAt.Add(time.Microsecond)
		}
		format, body := sqlstore.ManifestArgs(a.Manifest)
		_, err = tx.Exec(ctx, `UPDATE agents SET name = $2, type = $3, capabilities = $4, endpoint = $5,
			description = $6, version = $7, labels = $8, metadata = $9, status = $10, api_version = $11,
			manifest_format = $12, manifest_body = $13, updated_at = $14, protocol = $15, auth = $16
			WHERE id = $1`,
			a.ID, a.Name, a.Type, a.Capabilities, a.Endpoint, a.Description, a.Version, a.Labels,
			a.Metadata, a.Status, a.APIVersion, format, body, a.UpdatedAt, a.Protocol, sqlstore.AuthArg(a.Auth))
		if err != nil {
			return agentError(err, a)
		}
		out = a
		rec.Event(platform.AgentEvent(platform.EventAgentUpdated, a, a.UpdatedAt))
		rec.Audit(platform.NewAgentAudit(ctx, platform.AuditAgentUpdate, a))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteAgent removes one agent.
func (db *DB) DeleteAgent(ctx context.Context, namespace, ref string) error {
	return db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		cond, arg := byRef(ref)
		a := platform.Agent{Namespace: namespace}
		err := tx.QueryRow(ctx, `DELETE FROM agents WHERE namespace = $1 AND `+cond+` RETURNING id::text, name`,
			namespace, arg).Scan(&a.ID, &a.Name)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(ref)
		}
		if err != nil {
			return err
		}
		rec.Event(platform.AgentEvent(platform.EventAgentDeleted, &a, db.timestamp()))
		rec.Audit(platform.NewAgentAudit(ctx, platform.AuditAgentDelete, &a))
		return nil
	})
}

// SetAgentHealth records an agent's health without touching updated_at:
// health is an observation, not an edit.
func (db *DB) SetAgentHealth(ctx context.Context, id string, h platform.AgentHealth) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return notFound(id)
	}
	status, reason, checked := sqlstore.HealthArgs(h)
	return db.change(ctx, func(tx pgx.Tx, rec *sqlstore.Recorder) error {
		a := platform.Agent{ID: uid.String(), Health: h}
		var previous platform.HealthStatus
		err := tx.QueryRow(ctx, `UPDATE agents a SET health_status = $2, health_reason = $3, health_checked_at = $4
			FROM (SELECT id, health_status FROM agents WHERE id = $1 FOR UPDATE) old
			WHERE a.id = old.id RETURNING a.namespace, a.name, old.health_status`,
			a.ID, status, reason, checked).Scan(&a.Namespace, &a.Name, &previous)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(id)
		}
		if err != nil {
			return fmt.Errorf("set health of agent %q: %w", id, err)
		}
		if previous != h.Status {
			rec.Event(platform.HealthEvent(&a, previous, db.timestamp()))
		}
		return nil
	})
}

// CountAgents counts agents by type and status across namespaces.
func (db *DB) CountAgents(ctx context.Context) ([]platform.AgentCount, error) {
	rows, err := db.pool.Query(ctx, `SELECT type, status, count(*) FROM agents GROUP BY type, status ORDER BY type, status`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (platform.AgentCount, error) {
		var c platform.AgentCount
		err := r.Scan(&c.Type, &c.Status, &c.Count)
		return c, err
	})
}

// timestamp is now at PostgreSQL's precision, so that the agent a write
// returns equals the one a later read returns.
func (db *DB) timestamp() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// attributeFilter is the conditions on the attributes every listing and
// search of agents filters by, each only when set: the type, the status, a
// capability among the agent's, labels with these values; on columns of
// those names (agents, agent_vectors). arg adds a parameter and returns
// its placeholder.
func attributeFilter(arg func(any) string, typ platform.AgentType, status platform.AgentStatus, capability string,
	labels map[string]string) []string {
	var where []string
	if typ != "" {
		where = append(where, "type = "+arg(string(typ)))
	}
	if status != "" {
		where = append(where, "status = "+arg(string(status)))
	}
	if capability != "" {
		where = append(where, "capabilities @> ARRAY["+arg(capability)+"::text]")
	}
	if len(labels) > 0 {
		where = append(where, "labels @> "+arg(labels)+"::jsonb")
	}
	return where
}

// scanAgent reads one agent, with its manifest when the row has
// manifestColumns; a missing row is ENOTFOUND for ref.
func scanAgent(row pgx.Row, ref string, withManifest bool) (*platform.Agent, error) {
	var (
		a          platform.Agent
		format     *string
		body, auth []byte
	)
	dest := []any{&a.ID, &a.Namespace, &a.Name, &a.Type, &a.Capabilities, &a.Endpoint, &a.Description,
		&a.Version, &a.Labels, &a.Metadata, &a.Status, &a.APIVersion, &a.CreatedAt, &a.UpdatedAt,
		&a.Protocol, &a.Health.Status, &a.Health.Reason, &a.Health.CheckedAt, &auth}
	if withManifest {
		dest = append(dest, &format, &body)
	}
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(ref)
	}
	if err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	a.Health.CheckedAt = utc(a.Health.CheckedAt)
	a.Manifest = manifestOf(format, body)
	if a.Auth, err = sqlstore.AuthOf(auth); err != nil {
		return nil, err
	}
	return &a, nil
}

// manifestOf is the inverse of sqlstore.ManifestArgs.
func manifestOf(format *string, body []byte) *platform.ManifestSource {
	if format == nil {
		return nil
	}
	if body == nil {
		body = []byte{}
	}
	return &platform.ManifestSource{Format: *format, Body: body}
}

func notFound(ref string) error {
	return platform.Errorf(platform.ENOTFOUND, "agent %q not found", ref)
}

// agentError turns the unique violation of (namespace, name) into a
// conflict that names the agent; other errors pass through.
func agentError(err error, a *platform.Agent) error {
	if isUniqueViolation(err) {
		return platform.Errorf(platform.ECONFLICT, "an agent named %q already exists in namespace %q", a.Name, a.Namespace)
	}
	if err != nil {
		return fmt.Errorf("write agent %q: %w", a.Name, err)
	}
	return nil
}
