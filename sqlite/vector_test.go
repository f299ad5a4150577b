package sqlite_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/hnsw"
	"github.com/ossa-platform/platform/sqlite"
	"github.com/ossa-platform/platform/vectortest"
)

func openVectors(t *testing.T, db *sqlite.DB, model string, dim int, opts hnsw.Options) *sqlite.VectorIndex {
	t.Helper()
	ix, err := db.OpenVectorIndex(context.Background(), model, dim, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestVectorIndex(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex {
			return openVectors(t, open(t, t.TempDir()), "test-model", dim, hnsw.Options{})
		}, vectortest.Options{})
	})
	// The graph alone, as it answers past hnsw.DefaultExactBelow.
	t.Run("Graph", func(t *testing.T) {
		vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex {
			return openVectors(t, open(t, t.TempDir()), "test-model", dim, hnsw.Options{ExactBelow: -1})
		}, vectortest.Options{})
	})
}

func vectorDocs(n, dim int) []platform.VectorDoc {
	r := rand.New(rand.NewPCG(7, 7))
	docs := make([]platform.VectorDoc, n)
	for i := range docs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		docs[i] = platform.VectorDoc{ID: fmt.Sprintf("agent-%04d", i), Namespace: fmt.Sprintf("ns-%d", i%3),
			Vector: platform.Normalize(v), Type: platform.AgentWorker, Status: platform.AgentActive,
			Capabilities: []string{fmt.Sprintf("cap-%d", i%7)}, Labels: map[string]string{"tier": fmt.Sprint(i % 2)}}
	}
	return docs
}

// TestVectorIndexReopen checks that the vectors survive closing the file
// and come back into a new graph with their attributes, and that opening
// the index for another model or dimension empties it.
func TestVectorIndexReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	const dim = 16
	docs := vectorDocs(1500, dim)
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	ix := openVectors(t, db, "model-a", dim, hnsw.Options{ExactBelow: -1})
	if err := ix.Upsert(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	// A move, an attribute change and a deletion, each to be kept.
	moved := docs[1]
	moved.Vector = docs[2].Vector
	relabelled := docs[3]
	relabelled.Labels = map[string]string{"tier": "gold"}
	if err := ix.Upsert(ctx, moved, relabelled); err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, docs[0].ID); err != nil {
		t.Fatal(err)
	}
	queries := []platform.VectorQuery{
		{Vector: docs[2].Vector, Limit: 10, Namespaces: []string{platform.AllNamespaces}},
		{Vector: docs[5].Vector, Limit: 10, Namespaces: []string{"ns-1", "ns-2"}, Capability: "cap-3"},
		{Vector: docs[0].Vector, Limit: 5, Namespaces: []string{platform.AllNamespaces}, Labels: map[string]string{"tier": "gold"}},
		{Vector: docs[0].Vector, Limit: 3, Namespaces: []string{platform.AllNamespaces}, Exact: true},
	}
	var before [][]platform.VectorHit
	for _, q := range queries {
		q.Exact = true
		hits, err := ix.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, hits)
	}
	if got := before[2]; len(got) != 1 || got[0].ID != relabelled.ID {
		t.Fatalf("gold tier before reopening: %v", got)
	}
	db.Close()

	db = open(t, dir)
	ix = openVectors(t, db, "model-a", dim, hnsw.Options{})
	if n, _ := ix.Count(ctx); n != len(docs)-1 {
		t.Fatalf("count after reopening: %d, want %d", n, len(docs)-1)
	}
	t.Logf("reopened %d vectors of %d dimensions in %s", len(docs)-1, dim, ix.LoadTime())
	for i, q := range queries {
		for _, exact := range []bool{true, false} {
			q.Exact = exact
			hits, err := ix.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(hits, before[i]) {
				t.Errorf("query %d (exact=%v) after reopening: %v, want %v", i, exact, hits, before[i])
			}
		}
	}
	if hits, _ := ix.Search(ctx, queries[0]); len(hits) < 2 || !slices.Contains([]string{hits[0].ID, hits[1].ID}, moved.ID) {
		t.Fatalf("the moved document is not at its new vector: %v", hits)
	}

	// Another model: the old vectors go, and stay gone.
	other := openVectors(t, db, "model-b", dim, hnsw.Options{})
	if n, _ := other.Count(ctx); n != 0 || other.Model() != "model-b" {
		t.Fatalf("another model: count %d, model %q; want an empty index of model-b", n, other.Model())
	}
	var rows int
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM agent_vectors`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("agent_vectors after a model change: %d rows, %v", rows, err)
	}
	if err := other.Upsert(ctx, docs[:10]...); err != nil {
		t.Fatal(err)
	}
	// Another dimension of the same model: also a new embedder.
	wider := openVectors(t, db, "model-b", 2*dim, hnsw.Options{})
	if n, _ := wider.Count(ctx); n != 0 {
		t.Fatalf("another dimension: count %d, want 0", n)
	}
	if ix := openVectors(t, db, "model-b", 2*dim, hnsw.Options{}); ix.Dimension() != 2*dim {
		t.Fatalf("dimension %d", ix.Dimension())
	}
	if _, err := db.OpenVectorIndex(ctx, "", dim, hnsw.Options{}); platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("no model: %v, want invalid", err)
	}
}

// TestMigrationGap checks that a file migrated past 0012 without it (0013
// merged first) gets 0012 when opened.
func TestMigrationGap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	for _, stmt := range []string{`DROP TABLE agent_vectors`, `DROP TABLE agent_vector_model`,
		`DELETE FROM ossa_schema_migrations WHERE version = 12`} {
		if _, err := db.SQL().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Ready(ctx); err == nil {
		t.Fatal("Ready with migration 0012 missing")
	}
	db.Close()
	db = open(t, dir)
	if err := db.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	ix := openVectors(t, db, "m", 4, hnsw.Options{})
	if err := ix.Upsert(ctx, platform.VectorDoc{ID: "a", Namespace: "n", Vector: []float32{1, 0, 0, 0}}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVectorIndexOpen times opening the vector index of a database
// holding OSSA_BENCH_VECTORS (100,000 by default) vectors of 384
// dimensions: reading them and building the graph, what a restart of the
// gateway waits for before semantic search answers. The rows are written
// straight into agent_vectors, around 500 topics.
func BenchmarkVectorIndexOpen(b *testing.B) {
	ctx := context.Background()
	n := 100_000
	if s := os.Getenv("OSSA_BENCH_VECTORS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	const dim = 384
	db, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.OpenVectorIndex(ctx, "bench", dim, hnsw.Options{}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 8))
	topics := make([][]float32, 500)
	for i := range topics {
		topics[i] = make([]float32, dim)
		for j := range topics[i] {
			topics[i][j] = float32(r.NormFloat64())
		}
		platform.Normalize(topics[i])
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	blob := make([]byte, 4*dim)
	for i := range n {
		t := topics[r.IntN(len(topics))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = t[j] + float32(r.NormFloat64())/20
		}
		for j, f := range platform.Normalize(v) {
			binary.LittleEndian.PutUint32(blob[4*j:], math.Float32bits(f))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_vectors (agent_id, namespace, vector, type, status)
			VALUES (?, 'default', ?, 'worker', 'active')`, fmt.Sprintf("agent-%06d", i), blob); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	var ix *sqlite.VectorIndex
	for b.Loop() {
		if ix, err = db.OpenVectorIndex(ctx, "bench", dim, hnsw.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	if c, _ := ix.Count(ctx); c != n {
		b.Fatalf("count %d, want %d", c, n)
	}
	b.ReportMetric(ix.LoadTime().Seconds(), "load-s")
	b.ReportMetric(float64(n), "vectors")
}
