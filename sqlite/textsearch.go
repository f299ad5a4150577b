package sqlite

import (
	"context"
	"strings"

	"github.com/ossa-platform/platform"
)

var _ platform.AgentTextSearch = (*DB)(nil)

// SearchAgentText ranks the agents that have any of q's terms by BM25,
// name and capabilities weighing most, over the FTS5 index the agents
// table's triggers keep (migration 0013).
func (db *DB) SearchAgentText(ctx context.Context, q platform.TextQuery) ([]platform.TextHit, error) {
	hits := []platform.TextHit{}
	if len(q.Terms) == 0 || len(q.Namespaces) == 0 {
		return hits, nil
	}
	quoted := make([]string, len(q.Terms))
	for i, t := range q.Terms {
		quoted[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	where, args := []string{"agent_search MATCH ?"}, []any{strings.Join(quoted, " OR ")}
	where, args = agentFilters(where, args, "a.", q.Namespaces, q.Type, q.Status, q.Capability, q.Labels)
	args = append(args, q.Limit)
	// bm25 is lower for better matches; its weights are the columns':
	// name, description, capabilities, labels.
	rows, err := db.db.QueryContext(ctx, `SELECT a.id, a.namespace, -bm25(agent_search, 8.0, 2.0, 5.0, 1.0) AS score
		FROM agent_search JOIN agent_search_docs d ON d.docid = agent_search.rowid JOIN agents a ON a.id = d.agent_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY score DESC, a.id LIMIT ?`, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h platform.TextHit
		if err := rows.Scan(&h.ID, &h.Namespace, &h.Score); err != nil {
			return nil, err
		}
		hits = append(hits, h)
	}
	return hits, translate(rows.Err())
}

// agentFilters adds to where and args the conditions that confine agents
// (columns prefixed p) to namespaces and the filters of a search.
func agentFilters(where []string, args []any, p string, namespaces []string, typ platform.AgentType, status platform.AgentStatus,
	capability string, labels map[string]string) ([]string, []any) {
	all := false
	for _, ns := range namespaces {
		all = all || ns == platform.AllNamespaces
	}
	if !all {
		where = append(where, p+"namespace IN ("+strings.TrimSuffix(strings.Repeat("?,", len(namespaces)), ",")+")")
		for _, ns := range namespaces {
			args = append(args, ns)
		}
	}
	if typ != "" {
		where, args = append(where, p+"type = ?"), append(args, string(typ))
	}
	if status != "" {
		where, args = append(where, p+"status = ?"), append(args, string(status))
	}
	if capability != "" {
		where, args = append(where, "EXISTS (SELECT 1 FROM json_each("+p+"capabilities) WHERE value = ?)"), append(args, capability)
	}
	for k, v := range labels {
		where = append(where, "EXISTS (SELECT 1 FROM json_each("+p+"labels) WHERE key = ? AND value = ?)")
		args = append(args, k, v)
	}
	return where, args
}
