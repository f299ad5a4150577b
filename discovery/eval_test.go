package discovery_test

import (
	"context"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/discovery"
	"github.com/ossa-platform/platform/discovery/eval"
	"github.com/ossa-platform/platform/hnsw"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/lexical"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/sqlite"
)

// evalSet is the labelled evaluation set, loaded once.
func evalSet(t *testing.T) *eval.Set {
	t.Helper()
	set, err := eval.Load("testdata/eval")
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// searchOf is the eval.SearchFunc of a discovery service in the default
// namespace.
func searchOf(s *discovery.Service) eval.SearchFunc {
	return func(ctx context.Context, q string, limit int) ([]string, error) {
		found, err := s.Discover(ctx, platform.DiscoveryQuery{Text: q, Limit: limit, Namespaces: []string{platform.DefaultNamespace}})
		if err != nil {
			return nil, err
		}
		names := make([]string, len(found))
		for i, d := range found {
			names[i] = d.Agent.Name
		}
		return names, nil
	}
}

// TestEvaluationTextOnly reports what full-text search alone reaches on
// the evaluation set, the floor the hybrid ranking must beat.
func TestEvaluationTextOnly(t *testing.T) {
	t.Parallel()
	set := evalSet(t)
	db := ossatest.SQLite(t)
	ctx := context.Background()
	for _, a := range set.Agents {
		if err := db.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	r := eval.Evaluate(ctx, searchOf(&discovery.Service{Agents: db, Text: db}), set.Queries)
	t.Logf("full-text search alone (SQLite FTS5):\n%s", r)
}

// indexed is a discovery service over the evaluation set on SQLite, with
// the lexical embedder and an exact vector index, everything indexed.
func indexed(t *testing.T, set *eval.Set) (*discovery.Service, *sqlite.DB) {
	t.Helper()
	db := ossatest.SQLite(t)
	ctx := context.Background()
	for _, a := range set.Agents {
		if err := db.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	emb, err := lexical.New(lexical.DefaultDimension)
	if err != nil {
		t.Fatal(err)
	}
	ix := inmem.NewVectorIndex(emb.Dimension())
	x := &discovery.Indexer{Agents: db, Embedder: emb, Index: ix}
	if n, err := x.Reindex(ctx); err != nil || n != len(set.Agents) {
		t.Fatalf("Reindex = %d, %v; want %d", n, err, len(set.Agents))
	}
	return &discovery.Service{Agents: db, Text: db, Embedder: emb, Index: ix}, db
}

// TestEvaluation measures the embedded default (the lexical embedder,
// fused with full-text search) on the evaluation set beside each half
// alone, and holds the default to eval.TargetRecallAt3.
func TestEvaluation(t *testing.T) {
	t.Parallel()
	set := evalSet(t)
	ctx := context.Background()
	hybrid, db := indexed(t, set)
	results := map[string]eval.Result{
		"keyword overlap (baseline)":      eval.Evaluate(ctx, eval.KeywordSearch(set.Agents), set.Queries),
		"full-text (SQLite FTS5)":         eval.Evaluate(ctx, searchOf(&discovery.Service{Agents: db, Text: db}), set.Queries),
		"vectors (lexical-v1, exact)":     eval.Evaluate(ctx, searchOf(&discovery.Service{Agents: db, Text: noText{}, Embedder: hybrid.Embedder, Index: hybrid.Index}), set.Queries),
		"hybrid (lexical-v1 + FTS5, RRF)": eval.Evaluate(ctx, searchOf(hybrid), set.Queries),
	}
	// The embedded index as the gateway opens it, its graph searched
	// even at this size (ExactBelow < 0).
	embedded, err := db.OpenVectorIndex(ctx, hybrid.Embedder.Model(), hybrid.Embedder.Dimension(), hnsw.Options{ExactBelow: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&discovery.Indexer{Agents: db, Embedder: hybrid.Embedder, Index: embedded}).Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	results["hybrid (lexical-v1 + FTS5, embedded HNSW)"] = eval.Evaluate(ctx,
		searchOf(&discovery.Service{Agents: db, Text: db, Embedder: hybrid.Embedder, Index: embedded}), set.Queries)
	t.Logf("evaluation set: %d agents, %d queries\n%s", len(set.Agents), len(set.Queries), eval.Table(results))
	for _, name := range []string{"hybrid (lexical-v1 + FTS5, RRF)", "hybrid (lexical-v1 + FTS5, embedded HNSW)"} {
		got := results[name]
		if got.Errors > 0 {
			t.Fatalf("%s: %d queries failed: %v", name, got.Errors, got)
		}
		if got.RecallAt3 < eval.TargetRecallAt3 {
			t.Errorf("%s, the embedded default, reaches recall@3 %.3f, below %.2f:\n%s", name, got.RecallAt3, eval.TargetRecallAt3, got)
		}
	}
}

// noText is a full-text index that finds nothing: the vector half alone.
type noText struct{}

func (noText) SearchAgentText(context.Context, platform.TextQuery) ([]platform.TextHit, error) {
	return nil, nil
}

// TestEvaluationPostgres measures the same on PostgreSQL: its full-text
// search (tsvector) and the hybrid default with pgvector as the index.
func TestEvaluationPostgres(t *testing.T) {
	t.Parallel()
	set := evalSet(t)
	url, schema, _ := testenv.PostgresSchema(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	for _, a := range set.Agents {
		if err := db.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := db.VectorAvailable(ctx); err != nil || !ok {
		testenv.Skipf(t, "TEST_POSTGRES_URL has no pgvector extension (%v): .ci/services.sh ensure_pgvector installs it", err)
	}
	emb, err := lexical.New(lexical.DefaultDimension)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := db.OpenVectorIndex(ctx, emb.Model(), emb.Dimension())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&discovery.Indexer{Agents: db, Embedder: emb, Index: ix}).Reindex(ctx); err != nil {
		t.Fatal(err)
	}
	results := map[string]eval.Result{
		"full-text (PostgreSQL tsvector)":          eval.Evaluate(ctx, searchOf(&discovery.Service{Agents: db, Text: db}), set.Queries),
		"hybrid (lexical-v1 + tsvector, pgvector)": eval.Evaluate(ctx, searchOf(&discovery.Service{Agents: db, Text: db, Embedder: emb, Index: ix}), set.Queries),
	}
	t.Logf("evaluation set on PostgreSQL: %d agents, %d queries\n%s", len(set.Agents), len(set.Queries), eval.Table(results))
	for name, r := range results {
		if r.Errors > 0 {
			t.Errorf("%s: %d queries failed: %v", name, r.Errors, r)
		}
	}
}
