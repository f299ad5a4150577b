package hnsw

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/vectortest"
)

func TestVectorIndex(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex { return New(dim, Options{}) }, vectortest.Options{})
	})
	// The graph alone: no search is answered by brute force unless the
	// graph finds too few matches, so Recall measures the graph.
	t.Run("Graph", func(t *testing.T) {
		vectortest.Run(t, func(t *testing.T, dim int) platform.VectorIndex { return New(dim, Options{ExactBelow: -1}) }, vectortest.Options{})
	})
}

var ctx = context.Background()

// clustered returns n documents of dim dimensions around centres topics,
// in namespaces ns-0 to ns-3, of two types.
func clustered(r *rand.Rand, n, dim, topics int, prefix string) []platform.VectorDoc {
	centres := make([][]float32, topics)
	for i := range centres {
		centres[i] = randomVector(r, dim)
	}
	docs := make([]platform.VectorDoc, n)
	for i := range docs {
		c := centres[r.IntN(topics)]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(r.NormFloat64())*0.25
		}
		docs[i] = platform.VectorDoc{ID: fmt.Sprintf("%s-%05d", prefix, i), Namespace: fmt.Sprintf("ns-%d", i%4),
			Vector: platform.Normalize(v), Type: []platform.AgentType{platform.AgentWorker, platform.AgentOrchestrator}[i%2],
			Status: platform.AgentActive, Capabilities: []string{fmt.Sprintf("cap-%d", i%50)}}
	}
	return docs
}

func randomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return platform.Normalize(v)
}

func all(v []float32, limit int) platform.VectorQuery {
	return platform.VectorQuery{Vector: v, Limit: limit, Namespaces: []string{platform.AllNamespaces}}
}

// recall searches ix and the exact reference with each query and returns
// the share of the reference's hits the index found.
func recall(t *testing.T, ix *Index, ref *inmem.VectorIndex, queries []platform.VectorQuery) float64 {
	t.Helper()
	found, total := 0, 0
	for _, q := range queries {
		want, err := ref.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ix.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d hits, want %d", len(got), len(want))
		}
		for _, h := range got {
			if slices.ContainsFunc(want, func(w platform.VectorHit) bool { return w.ID == h.ID }) {
				found++
			}
		}
		total += len(want)
	}
	return float64(found) / float64(total)
}

// graphIndex returns an index that answers from the graph alone, with
// docs upserted into it and into the exact reference.
func graphIndex(t *testing.T, dim int, docs []platform.VectorDoc) (*Index, *inmem.VectorIndex) {
	t.Helper()
	ix, ref := New(dim, Options{ExactBelow: -1, EfConstruction: 64}), inmem.NewVectorIndex(dim)
	for i := 0; i < len(docs); i += 1000 {
		chunk := docs[i:min(i+1000, len(docs))]
		if err := ix.Upsert(ctx, chunk...); err != nil {
			t.Fatal(err)
		}
		if err := ref.Upsert(ctx, chunk...); err != nil {
			t.Fatal(err)
		}
	}
	return ix, ref
}

func queries(r *rand.Rand, n, dim, limit int) []platform.VectorQuery {
	qs := make([]platform.VectorQuery, n)
	for i, d := range clustered(r, n, dim, 40, "q") {
		qs[i] = all(d.Vector, limit)
	}
	return qs
}

// TestDeletes deletes documents from a graph, which leaves tombstones,
// and checks that none is ever a hit, that recall holds, and that the
// graph is rebuilt once tombstones outnumber live documents.
func TestDeletes(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 1))
	const dim = 32
	docs := clustered(r, 4000, dim, 40, "d")
	ix, ref := graphIndex(t, dim, docs)
	qs := queries(r, 100, dim, 10)
	var gone []string
	for i := 0; i < len(docs); i += 3 {
		gone = append(gone, docs[i].ID)
	}
	for _, x := range []platform.VectorIndex{ix, ref} {
		if err := x.Delete(ctx, gone...); err != nil {
			t.Fatal(err)
		}
	}
	if ix.deleted != len(gone) {
		t.Fatalf("%d tombstones, want %d", ix.deleted, len(gone))
	}
	if got := recall(t, ix, ref, qs); got < 0.95 {
		t.Fatalf("recall@10 %.3f after deleting a third, want 0.95", got)
	}
	for _, q := range qs {
		hits, _ := ix.Search(ctx, q)
		for _, h := range hits {
			if slices.Contains(gone, h.ID) {
				t.Fatalf("deleted %s is a hit", h.ID)
			}
		}
	}
	// Deleting half of the rest makes tombstones the majority.
	var more []string
	for i := 1; i < len(docs); i += 3 {
		more = append(more, docs[i].ID)
	}
	for _, x := range []platform.VectorIndex{ix, ref} {
		if err := x.Delete(ctx, more...); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := ix.Count(ctx); ix.deleted != 0 || len(ix.nodes) != n || n != len(docs)-len(gone)-len(more) {
		t.Fatalf("after the rebuild: %d tombstones, %d nodes, count %d", ix.deleted, len(ix.nodes), n)
	}
	if got := recall(t, ix, ref, qs); got < 0.95 {
		t.Fatalf("recall@10 %.3f after the rebuild, want 0.95", got)
	}
	// Deleting everything leaves an empty index that takes new documents.
	rest := make([]string, len(docs))
	for i, d := range docs {
		rest[i] = d.ID
	}
	if err := ix.Delete(ctx, rest...); err != nil {
		t.Fatal(err)
	}
	if n, _ := ix.Count(ctx); n != 0 || len(ix.nodes) != 0 || ix.entry != -1 {
		t.Fatalf("after deleting everything: count %d, %d nodes, entry %d", n, len(ix.nodes), ix.entry)
	}
	if err := ix.Upsert(ctx, docs[0]); err != nil {
		t.Fatal(err)
	}
	if hits, _ := ix.Search(ctx, all(docs[0].Vector, 5)); len(hits) != 1 || hits[0].ID != docs[0].ID {
		t.Fatalf("the one document: %v", hits)
	}
}

// TestUpdates moves documents to other vectors and changes attributes
// alone, and checks that searches see only the new state.
func TestUpdates(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(2, 2))
	const dim = 32
	docs := clustered(r, 3000, dim, 30, "u")
	ix, ref := graphIndex(t, dim, docs)
	moved := clustered(r, 3000, dim, 30, "u")
	var batch []platform.VectorDoc
	for i := 0; i < len(docs); i += 2 {
		d := docs[i]
		d.Vector = moved[i].Vector
		batch = append(batch, d)
	}
	// Same vector, another type: changed in place, no tombstone.
	for i := 1; i < len(docs); i += 10 {
		d := docs[i]
		d.Type = platform.AgentMonitor
		batch = append(batch, d)
	}
	for _, x := range []platform.VectorIndex{ix, ref} {
		if err := x.Upsert(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := ix.Count(ctx); n != len(docs) || ix.deleted != len(docs)/2 {
		t.Fatalf("count %d, %d tombstones; want %d, %d", n, ix.deleted, len(docs), len(docs)/2)
	}
	if got := recall(t, ix, ref, queries(r, 100, dim, 10)); got < 0.95 {
		t.Fatalf("recall@10 %.3f after moving half, want 0.95", got)
	}
	// Each moved document is found at its new place, not its old.
	for i := 0; i < 200; i += 2 {
		hits, _ := ix.Search(ctx, all(moved[i].Vector, 1))
		if len(hits) != 1 || hits[0].ID != docs[i].ID || hits[0].Score < 0.999 {
			t.Fatalf("at %s's new vector: %v", docs[i].ID, hits)
		}
	}
	// Same vector, another namespace: found there and not in the old one.
	d := docs[7]
	d.Namespace = "ns-moved"
	for _, x := range []platform.VectorIndex{ix, ref} {
		if err := x.Upsert(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for ns, want := range map[string]bool{"ns-moved": true, docs[7].Namespace: false} {
		q := all(d.Vector, 1)
		q.Namespaces = []string{ns}
		hits, _ := ix.Search(ctx, q)
		if got := len(hits) == 1 && hits[0].ID == d.ID; got != want {
			t.Fatalf("%s in %s after moving it to ns-moved: %v", d.ID, ns, hits)
		}
	}
	q := all(docs[1].Vector, 20)
	q.Type = platform.AgentMonitor
	want, _ := ref.Search(ctx, q)
	got, _ := ix.Search(ctx, q)
	if !slices.Equal(ids(got), ids(want)) || len(got) != 20 {
		t.Fatalf("monitors: %v, want %v", ids(got), ids(want))
	}
}

func ids(hits []platform.VectorHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// TestFilters checks filtered searches against the reference at every
// selectivity: a filter most documents meet (the graph, skipping the
// others), a selective one (brute force over the matches), and one the
// nearest documents never meet (the graph finds too few; brute force).
func TestFilters(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 3))
	const dim = 32
	docs := clustered(r, 5000, dim, 40, "f")
	ix, ref := graphIndex(t, dim, docs)
	for name, f := range map[string]func(q *platform.VectorQuery){
		"half (type)":          func(q *platform.VectorQuery) { q.Type = platform.AgentWorker },
		"quarter (namespace)":  func(q *platform.VectorQuery) { q.Namespaces = []string{"ns-2"} },
		"three quarters":       func(q *platform.VectorQuery) { q.Namespaces = []string{"ns-0", "ns-1", "ns-3"} },
		"2% (capability)":      func(q *platform.VectorQuery) { q.Capability = "cap-7" },
		"none (status)":        func(q *platform.VectorQuery) { q.Status = platform.AgentInactive },
		"no namespace at all":  func(q *platform.VectorQuery) { q.Namespaces = nil },
		"unknown namespace":    func(q *platform.VectorQuery) { q.Namespaces = []string{"elsewhere"} },
		"capability and types": func(q *platform.VectorQuery) { q.Capability, q.Type = "cap-8", platform.AgentWorker },
	} {
		qs := queries(r, 50, dim, 10)
		for i := range qs {
			f(&qs[i])
		}
		found, total := 0, 0
		for _, q := range qs {
			want, _ := ref.Search(ctx, q)
			got, err := ix.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d hits, want %d", name, len(got), len(want))
			}
			for _, h := range got {
				d := docs[slices.IndexFunc(docs, func(d platform.VectorDoc) bool { return d.ID == h.ID })]
				if !q.Matches(&d) {
					t.Fatalf("%s: %s does not match", name, h.ID)
				}
				if slices.Contains(ids(want), h.ID) {
					found++
				}
			}
			total += len(want)
		}
		if total > 0 && float64(found)/float64(total) < 0.95 {
			t.Errorf("%s: recall@10 %.3f", name, float64(found)/float64(total))
		}
	}
}

// TestConcurrent upserts, replaces, deletes and searches at once, for the
// race detector, then checks the index against the reference.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 4))
	const dim = 16
	docs := clustered(r, 2000, dim, 20, "c")
	other := clustered(r, 2000, dim, 20, "c")
	ix := New(dim, Options{ExactBelow: -1})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(docs); i += 4 {
				if err := ix.Upsert(ctx, docs[i]); err != nil {
					t.Error(err)
					return
				}
				if i%8 == w {
					d := docs[i]
					d.Vector = other[i].Vector
					if err := ix.Upsert(ctx, d); err != nil {
						t.Error(err)
						return
					}
				}
				if i%5 == 0 {
					if err := ix.Delete(ctx, docs[i].ID); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		wg.Go(func() {
			for i := range 300 {
				q := all(docs[i].Vector, 10)
				if i%3 == 0 {
					q.Namespaces = []string{"ns-1"}
				}
				if _, err := ix.Search(ctx, q); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ref := inmem.NewVectorIndex(dim)
	for i, d := range docs {
		if i%8 == i%4 {
			d.Vector = other[i].Vector
		}
		if i%5 != 0 {
			if err := ref.Upsert(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, _ := ix.Count(ctx)
	want, _ := ref.Count(ctx)
	if n != want {
		t.Fatalf("count %d, want %d", n, want)
	}
	if got := recall(t, ix, ref, queries(r, 100, dim, 10)); got < 0.95 {
		t.Fatalf("recall@10 %.3f, want 0.95", got)
	}
}
