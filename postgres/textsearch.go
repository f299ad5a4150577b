package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/ossa-platform/platform"
)

var _ platform.AgentTextSearch = (*DB)(nil)

// SearchAgentText ranks the agents that have any of q's terms by
// ts_rank_cd over the tsvector a trigger keeps on each agent (migration
// 0014): name and capabilities weigh most.
func (db *DB) SearchAgentText(ctx context.Context, q platform.TextQuery) ([]platform.TextHit, error) {
	hits := []platform.TextHit{}
	if len(q.Terms) == 0 || len(q.Namespaces) == 0 {
		return hits, nil
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// The terms are letters and digits (platform.SearchTerms), so joining
	// them with | is a valid tsquery: any of them.
	tsq := "to_tsquery('english', " + arg(strings.Join(q.Terms, " | ")) + ")"
	where := []string{"search @@ " + tsq}
	if !slices.Contains(q.Namespaces, platform.AllNamespaces) {
		where = append(where, "namespace = ANY("+arg(q.Namespaces)+")")
	}
	where = append(where, attributeFilter(arg, q.Type, q.Status, q.Capability, q.Labels)...)
	rows, err := db.pool.Query(ctx, `SELECT id::text, namespace, ts_rank_cd(search, `+tsq+`)::float8 AS score FROM agents
		WHERE `+strings.Join(where, " AND ")+` ORDER BY score DESC, id LIMIT `+arg(q.Limit), args...)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (platform.TextHit, error) {
		var h platform.TextHit
		err := r.Scan(&h.ID, &h.Namespace, &h.Score)
		return h, err
	})
	if err != nil {
		return nil, err
	}
	return append(hits, found...), nil
}
