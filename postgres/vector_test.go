package postgres_test

import (
	"context"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/vectortest"
)

// openVectors opens a store in a schema of its own and its pgvector index,
// or skips (fails in CI) when the server lacks the extension.
func openVectors(t *testing.T, model string, dim int) (*postgres.DB, *postgres.VectorIndex) {
	t.Helper()
	url, schema := newSchema(t)
	db := open(t, url, schema)
	ok, err := db.VectorAvailable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		testenv.Skipf(t, "the vector extension is not available on TEST_POSTGRES_URL: .ci/services.sh ensure_pgvector builds and creates it")
	}
	ix, err := db.OpenVectorIndex(context.Background(), model, dim)
	if err != nil {
		t.Fatal(err)
	}
	return db, ix
}

func TestVectorIndex(t *testing.T) {
	t.Parallel()
	vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex {
		_, ix := openVectors(t, "test-model", dim)
		if ix.Backend() != "pgvector" {
			t.Fatalf("Backend() = %q", ix.Backend())
		}
		return ix
	}, vectortest.Options{})
}

// TestVectorIndexModelChange checks that an index keeps its vectors when
// opened again for the same model and dimension, and starts empty for
// another model or dimension.
func TestVectorIndexModelChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, ix := openVectors(t, "model-a", 4)
	d := platform.VectorDoc{ID: "a", Namespace: "team-a", Vector: []float32{1, 0, 0, 0}, Type: platform.AgentWorker}
	if err := ix.Upsert(ctx, d); err != nil {
		t.Fatal(err)
	}
	count := func(ix platform.VectorIndex) int {
		t.Helper()
		n, err := ix.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, step := range []struct {
		model string
		dim   int
		want  int
	}{
		{"model-a", 4, 1}, // the same embedder: kept
		{"model-b", 4, 0}, // another model: re-indexed
		{"model-b", 8, 0}, // another dimension: re-indexed
	} {
		again, err := db.OpenVectorIndex(ctx, step.model, step.dim)
		if err != nil {
			t.Fatal(err)
		}
		if got := count(again); got != step.want {
			t.Fatalf("%s/%d: count %d, want %d", step.model, step.dim, got, step.want)
		}
		if again.Dimension() != step.dim || again.Model() != step.model {
			t.Fatalf("opened %s/%d", again.Model(), again.Dimension())
		}
		if step.want == 0 {
			d.Vector = make([]float32, step.dim)
			d.Vector[0] = 1
			if err := again.Upsert(ctx, d); err != nil {
				t.Fatalf("%s/%d: upsert after re-creating: %v", step.model, step.dim, err)
			}
		}
	}
	// The first index's vectors no longer fit the table.
	if err := ix.Upsert(ctx, platform.VectorDoc{ID: "b", Vector: []float32{0, 1, 0, 0}}); err == nil {
		t.Fatal("an upsert of 4 dimensions into an index re-created for 8 passed")
	}
}

// TestVectorIndexInvalid checks what OpenVectorIndex refuses.
func TestVectorIndexInvalid(t *testing.T) {
	t.Parallel()
	db, _ := openVectors(t, "m", 4)
	for _, c := range []struct {
		model string
		dim   int
	}{{"", 4}, {"m", 0}, {"m", postgres.MaxVectorDimension + 1}} {
		if _, err := db.OpenVectorIndex(context.Background(), c.model, c.dim); platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("OpenVectorIndex(%q, %d): %v, want invalid", c.model, c.dim, err)
		}
	}
}

// TestVectorIndexHalfPrecision checks an index of more dimensions than
// HNSW takes at full precision, which indexes a half-precision copy.
func TestVectorIndexHalfPrecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const dim = 3072
	_, ix := openVectors(t, "large", dim)
	var docs []platform.VectorDoc
	for i := range 20 {
		v := make([]float32, dim)
		v[i] = 1
		v[(i+1)%dim] = 0.5
		docs = append(docs, platform.VectorDoc{ID: string(rune('a' + i)), Namespace: "n", Vector: platform.Normalize(v)})
	}
	if err := ix.Upsert(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	for _, exact := range []bool{false, true} {
		hits, err := ix.Search(ctx, platform.VectorQuery{Vector: docs[3].Vector, Limit: 3,
			Namespaces: []string{platform.AllNamespaces}, Exact: exact})
		if err != nil {
			t.Fatal(err)
		}
		// c's vector is e1/2 + e2... d's shares the e3 axis with c, and e's
		// the e4 axis with d.
		if len(hits) != 3 || hits[0].ID != "d" || hits[0].Score < 0.99 {
			t.Fatalf("exact=%v: %+v, want d first with score 1", exact, hits)
		}
	}
}
