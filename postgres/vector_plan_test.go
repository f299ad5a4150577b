package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
)

// TestVectorSearchPlan checks that the query of an approximate search,
// filtered or not, is one the HNSW index serves, and that an exact one
// never walks it. Sequential scans are made dear so that the planner shows
// what it can do: on a table this small it would rather read every row,
// which is exact and cheaper.
func TestVectorSearchPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, schema, _ := testenv.PostgresSchema(t)
	db, err := Open(ctx, Config{URL: url, Schema: schema, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if ok, err := db.VectorAvailable(ctx); err != nil || !ok {
		testenv.Skipf(t, "the vector extension is not available on TEST_POSTGRES_URL (%v)", err)
	}
	x, err := db.OpenVectorIndex(ctx, "m", 8)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]platform.VectorDoc, 2000)
	for i := range docs {
		v := make([]float32, 8)
		v[i%8], v[(i/8)%8] = 1, float32(i%13)/13
		docs[i] = platform.VectorDoc{ID: fmt.Sprint(i), Namespace: []string{"a", "b"}[i%2], Vector: platform.Normalize(v),
			Type: platform.AgentWorker, Status: platform.AgentActive, Capabilities: []string{"c"}, Labels: map[string]string{"k": "v"}}
	}
	if err := x.Upsert(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE agent_vectors`); err != nil {
		t.Fatal(err)
	}
	base := platform.VectorQuery{Vector: docs[5].Vector, Limit: 10, Namespaces: []string{platform.AllNamespaces}}
	filtered := base
	filtered.Namespaces, filtered.Capability, filtered.Labels = []string{"b"}, "c", map[string]string{"k": "v"}
	exact := filtered
	exact.Exact = true
	for name, c := range map[string]struct {
		q     platform.VectorQuery
		index bool
	}{"approximate": {base, true}, "filtered": {filtered, true}, "exact": {exact, false}} {
		sql, args, settings := x.searchSQL(c.q)
		var plan []string
		err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, settings); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if got := strings.Contains(text, "agent_vectors_embedding"); got != c.index {
			t.Errorf("%s: uses the HNSW index %v, want %v:\n%s", name, got, c.index, text)
		}
	}
}
