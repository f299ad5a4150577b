// Package vectortest is the conformance suite every platform.VectorIndex
// passes, as every store passes storetest. A backend's test calls Run with
// a function that opens a fresh, empty index of a dimension.
package vectortest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/ossa-platform/platform"
)

// Options tune the suite to a backend.
type Options struct {
	// RecallDocs is how many documents the recall check indexes; 5000
	// when 0. A backend reached over a network may take fewer.
	RecallDocs int
	// MinRecall is the recall@10 of Search against exact search the
	// index must reach; 0.95 when 0.
	MinRecall float64
}

// Run runs the whole suite. newIndex returns a fresh, empty index of
// vectors of dim dimensions; it is called once per subtest and must
// register its own cleanup on t.
func Run(t *testing.T, newIndex func(t *testing.T, dim int) platform.VectorIndex, opts Options) {
	if opts.RecallDocs == 0 {
		opts.RecallDocs = 5000
	}
	if opts.MinRecall == 0 {
		opts.MinRecall = 0.95
	}
	ctx := context.Background()

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		ix := newIndex(t, 4)
		if ix.Dimension() != 4 {
			t.Fatalf("Dimension() = %d, want 4", ix.Dimension())
		}
		if n, err := ix.Count(ctx); err != nil || n != 0 {
			t.Fatalf("Count = %d, %v; want 0", n, err)
		}
		hits, err := ix.Search(ctx, query([]float32{1, 0, 0, 0}, 5))
		if err != nil || len(hits) != 0 {
			t.Fatalf("Search of an empty index = %v, %v", hits, err)
		}
	})

	t.Run("Ranking", func(t *testing.T) {
		t.Parallel()
		ix := newIndex(t, 4)
		docs := []platform.VectorDoc{
			doc("a", "team-a", 1, 0, 0, 0),
			doc("b", "team-a", 1, 1, 0, 0),
			doc("c", "team-a", 0, 1, 0, 0),
			doc("d", "team-a", -1, 0, 0, 0),
			doc("e", "team-a", 1, 1, 0, 0), // ties b
		}
		if err := ix.Upsert(ctx, docs...); err != nil {
			t.Fatal(err)
		}
		if n, err := ix.Count(ctx); err != nil || n != 5 {
			t.Fatalf("Count = %d, %v; want 5", n, err)
		}
		for _, exact := range []bool{false, true} {
			q := query([]float32{1, 0, 0, 0}, 5)
			q.Exact = exact
			hits, err := ix.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(hits); !slices.Equal(got, []string{"a", "b", "e", "c", "d"}) {
				t.Fatalf("exact=%v: hits %v, want a b e c d (ties by ID)", exact, got)
			}
			for _, h := range hits {
				want := platform.Cosine(q.Vector, find(docs, h.ID).Vector)
				if d := h.Score - want; d > 1e-3 || d < -1e-3 || h.Namespace != "team-a" {
					t.Fatalf("hit %+v, want score %.4f in team-a", h, want)
				}
			}
			q.Limit = 2
			if hits, _ := ix.Search(ctx, q); !slices.Equal(ids(hits), []string{"a", "b"}) {
				t.Fatalf("exact=%v, limit 2: %v", exact, ids(hits))
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		ix := newIndex(t, 4)
		if err := ix.Upsert(ctx, doc("a", "team-a", 1, 0, 0, 0)); err != nil {
			t.Fatal(err)
		}
		bad := doc("b", "team-a", 1, 0, 0)
		if err := ix.Upsert(ctx, doc("c", "team-a", 0, 1, 0, 0), bad); platform.ErrorCode(err) != platform.EINVALID {
			t.Fatalf("a vector of 3 dimensions in an index of 4: %v, want invalid", err)
		}
		if n, _ := ix.Count(ctx); n != 1 {
			t.Fatalf("a refused upsert stored something: count %d", n)
		}
		for _, q := range []platform.VectorQuery{query([]float32{1, 0, 0}, 5), query([]float32{1, 0, 0, 0}, 0),
			query([]float32{1, 0, 0, 0}, platform.MaxVectorLimit+1)} {
			if _, err := ix.Search(ctx, q); platform.ErrorCode(err) != platform.EINVALID {
				t.Errorf("Search(dim %d, limit %d): %v, want invalid", len(q.Vector), q.Limit, err)
			}
		}
	})

	t.Run("UpdateAndDelete", func(t *testing.T) {
		t.Parallel()
		ix := newIndex(t, 4)
		if err := ix.Upsert(ctx, doc("a", "team-a", 1, 0, 0, 0), doc("b", "team-a", 0, 1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		// a moves away from the query and changes type; b comes near.
		moved := doc("a", "team-a", 0, 0, 1, 0)
		moved.Type = platform.AgentOrchestrator
		if err := ix.Upsert(ctx, moved, doc("b", "team-a", 1, 0.1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		if n, _ := ix.Count(ctx); n != 2 {
			t.Fatalf("count after replacing both: %d, want 2", n)
		}
		hits, err := ix.Search(ctx, query([]float32{1, 0, 0, 0}, 5))
		if err != nil || !slices.Equal(ids(hits), []string{"b", "a"}) {
			t.Fatalf("after the update: %v, %v; want b a", ids(hits), err)
		}
		q := query([]float32{1, 0, 0, 0}, 5)
		q.Type = platform.AgentWorker
		if hits, _ := ix.Search(ctx, q); !slices.Equal(ids(hits), []string{"b"}) {
			t.Fatalf("workers after a became an orchestrator: %v, want b", ids(hits))
		}
		if err := ix.Delete(ctx, "b", "never"); err != nil {
			t.Fatal(err)
		}
		if hits, _ := ix.Search(ctx, query([]float32{1, 0, 0, 0}, 5)); !slices.Equal(ids(hits), []string{"a"}) {
			t.Fatalf("after deleting b: %v", ids(hits))
		}
		if n, _ := ix.Count(ctx); n != 1 {
			t.Fatalf("count after a delete: %d, want 1", n)
		}
		if err := ix.Delete(ctx); err != nil {
			t.Fatalf("Delete of nothing: %v", err)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		ix := newIndex(t, 8)
		r := rand.New(rand.NewPCG(1, 2))
		var docs []platform.VectorDoc
		for i := range 300 {
			d := platform.VectorDoc{ID: fmt.Sprintf("agent-%03d", i), Namespace: []string{"team-a", "team-b", "team-c"}[i%3],
				Vector: randomVector(r, 8), Type: []platform.AgentType{platform.AgentWorker, platform.AgentOrchestrator}[i%2],
				Status:       []platform.AgentStatus{platform.AgentActive, platform.AgentInactive}[(i/2)%2],
				Capabilities: []string{fmt.Sprintf("cap-%d", i%5), "common"},
				Labels:       map[string]string{"team": fmt.Sprintf("t%d", i%4), "tier": "gold"}}
			docs = append(docs, d)
		}
		if err := ix.Upsert(ctx, docs...); err != nil {
			t.Fatal(err)
		}
		v := randomVector(r, 8)
		for name, q := range map[string]platform.VectorQuery{
			"namespace":  {Namespaces: []string{"team-b"}},
			"namespaces": {Namespaces: []string{"team-a", "team-c"}},
			"all":        {Namespaces: []string{platform.AllNamespaces}},
			"none":       {},
			"type":       {Namespaces: []string{platform.AllNamespaces}, Type: platform.AgentOrchestrator},
			"status":     {Namespaces: []string{"team-a"}, Status: platform.AgentInactive},
			"capability": {Namespaces: []string{platform.AllNamespaces}, Capability: "cap-3"},
			"labels":     {Namespaces: []string{platform.AllNamespaces}, Labels: map[string]string{"team": "t1", "tier": "gold"}},
			"no label":   {Namespaces: []string{platform.AllNamespaces}, Labels: map[string]string{"tier": "silver"}},
			"all of them": {Namespaces: []string{"team-a", "team-b"}, Type: platform.AgentWorker, Status: platform.AgentActive,
				Capability: "cap-2", Labels: map[string]string{"team": "t0"}},
		} {
			q.Vector, q.Limit = v, 20
			want := exact(docs, q)
			for _, ex := range []bool{false, true} {
				q.Exact = ex
				hits, err := ix.Search(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := ids(hits); !slices.Equal(got, want) {
					t.Errorf("%s (exact=%v): %v, want %v", name, ex, got, want)
				}
			}
		}
	})

	t.Run("Recall", func(t *testing.T) {
		t.Parallel()
		const dim = 64
		ix := newIndex(t, dim)
		r := rand.New(rand.NewPCG(3, 4))
		docs := clustered(r, opts.RecallDocs, dim)
		for i := 0; i < len(docs); i += 500 {
			if err := ix.Upsert(ctx, docs[i:min(i+500, len(docs))]...); err != nil {
				t.Fatal(err)
			}
		}
		queries := clustered(r, 50, dim)
		found, total := 0, 0
		for _, qd := range queries {
			q := query(qd.Vector, 10)
			want := exact(docs, q)
			q.Exact = true
			hits, err := ix.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(hits), want) {
				t.Fatalf("exact search: %v, want %v", ids(hits), want)
			}
			q.Exact = false
			if hits, err = ix.Search(ctx, q); err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if slices.Contains(want, h.ID) {
					found++
				}
			}
			total += len(want)
		}
		recall := float64(found) / float64(total)
		t.Logf("%s: recall@10 %.3f over %d documents of %d dimensions", ix.Backend(), recall, len(docs), dim)
		if recall < opts.MinRecall {
			t.Fatalf("recall@10 %.3f, want at least %.2f", recall, opts.MinRecall)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		ix := newIndex(t, 16)
		r := rand.New(rand.NewPCG(5, 6))
		docs := clustered(r, 400, 16)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 4 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := w; i < len(docs); i += 4 {
					if err := ix.Upsert(ctx, docs[i]); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := range 50 {
					if _, err := ix.Search(ctx, query(docs[i].Vector, 5)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n, _ := ix.Count(ctx); n != len(docs) {
			t.Fatalf("count after concurrent upserts: %d, want %d", n, len(docs))
		}
	})
}

func query(v []float32, limit int) platform.VectorQuery {
	return platform.VectorQuery{Vector: v, Limit: limit, Namespaces: []string{platform.AllNamespaces}}
}

func doc(id, ns string, v ...float32) platform.VectorDoc {
	return platform.VectorDoc{ID: id, Namespace: ns, Vector: platform.Normalize(v), Type: platform.AgentWorker,
		Status: platform.AgentActive, Capabilities: []string{"x"}, Labels: map[string]string{}}
}

func find(docs []platform.VectorDoc, id string) platform.VectorDoc {
	for _, d := range docs {
		if d.ID == id {
			return d
		}
	}
	panic("vectortest: no document " + id)
}

func ids(hits []platform.VectorHit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// exact is the reference answer to q over docs: brute force, best first,
// ties by ID.
func exact(docs []platform.VectorDoc, q platform.VectorQuery) []string {
	type scored struct {
		id    string
		score float32
	}
	var all []scored
	for i := range docs {
		if q.Matches(&docs[i]) {
			all = append(all, scored{docs[i].ID, platform.Cosine(q.Vector, docs[i].Vector)})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].id < all[j].id
	})
	out := []string{}
	for i := 0; i < len(all) && i < q.Limit; i++ {
		out = append(out, all[i].id)
	}
	return out
}

func randomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return platform.Normalize(v)
}

// clustered returns n normalised documents around 20 centres, as
// embeddings of text cluster by topic, in one namespace.
func clustered(r *rand.Rand, n, dim int) []platform.VectorDoc {
	centres := make([][]float32, 20)
	for i := range centres {
		centres[i] = randomVector(r, dim)
	}
	docs := make([]platform.VectorDoc, n)
	for i := range docs {
		c := centres[r.IntN(len(centres))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(r.NormFloat64())*0.35/float32(dim)*8
		}
		docs[i] = platform.VectorDoc{ID: fmt.Sprintf("doc-%05d", i), Namespace: "team-a", Vector: platform.Normalize(v),
			Type: platform.AgentWorker, Status: platform.AgentActive, Capabilities: []string{"x"}, Labels: map[string]string{}}
	}
	return docs
}
