package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
)

// BenchmarkVectorIndex measures the pgvector index on synthetic embeddings
// (docs/pgvector.md has the figures): the time to load the documents
// through Upsert, batches of 500 into the HNSW-indexed table as the
// discovery indexer writes them, then the latency of searches with 1 and 8
// clients at several hnsw.ef_search settings, and the recall@10 of each
// setting against exact search in the same run.
//
// The documents, PGVECTOR_BENCH_DOCS of them (100,000 unless set), of 384
// dimensions (a small sentence-embedding model's), cluster as embeddings of
// text do by topic: 500 random unit centroids, each document a centroid
// plus Gaussian noise of norm about 0.6, normalised (cosine about 0.86 with
// its centroid, 0.74 with its cluster's other documents), in 10
// namespaces. Queries are new points made the same way. The filtered
// searches ask for one namespace of the ten.
func BenchmarkVectorIndex(b *testing.B) {
	const dim, centroids, queries = 384, 500, 100
	n := 100_000
	if s := os.Getenv("PGVECTOR_BENCH_DOCS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("PGVECTOR_BENCH_DOCS: %v", err)
		}
	}
	ctx := context.Background()
	url, schema, _ := testenv.PostgresSchema(b)
	db, err := postgres.Open(ctx, postgres.Config{URL: url, Schema: schema, MaxConns: 10})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if ok, err := db.VectorAvailable(ctx); err != nil || !ok {
		b.Skipf("the vector extension is not available on TEST_POSTGRES_URL (%v)", err)
	}
	ix, err := db.OpenVectorIndex(ctx, "bench", dim)
	if err != nil {
		b.Fatal(err)
	}

	r := rand.New(rand.NewPCG(7, 8))
	centres := make([][]float32, centroids)
	for i := range centres {
		centres[i] = gaussian(r, dim, 1)
		platform.Normalize(centres[i])
	}
	point := func() []float32 {
		v := gaussian(r, dim, 0.6/19.6) // 19.6 ≈ √384
		c := centres[r.IntN(centroids)]
		for j := range v {
			v[j] += c[j]
		}
		return platform.Normalize(v)
	}
	docs := make([]platform.VectorDoc, n)
	for i := range docs {
		docs[i] = platform.VectorDoc{ID: fmt.Sprintf("agent-%06d", i), Namespace: fmt.Sprintf("ns-%d", i%10),
			Vector: point(), Type: platform.AgentWorker, Status: platform.AgentActive,
			Capabilities: []string{"cap"}, Labels: map[string]string{}}
	}
	start := time.Now()
	for i := 0; i < n; i += 500 {
		if err := ix.Upsert(ctx, docs[i:min(i+500, n)]...); err != nil {
			b.Fatal(err)
		}
	}
	build := time.Since(start)
	if _, err := db.Pool().Exec(ctx, `ANALYZE agent_vectors`); err != nil {
		b.Fatal(err)
	}
	var size string
	if err := db.Pool().QueryRow(ctx, `SELECT pg_size_pretty(pg_relation_size('agent_vectors_embedding'))`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d documents of %d dimensions in %v (%.0f a second); HNSW index %s",
		n, dim, build.Round(time.Millisecond), float64(n)/build.Seconds(), size)

	qs := make([]platform.VectorQuery, queries)
	for i := range qs {
		qs[i] = platform.VectorQuery{Vector: point(), Limit: 10, Namespaces: []string{platform.AllNamespaces}}
	}
	filtered := make([]platform.VectorQuery, queries)
	for i, q := range qs {
		q.Namespaces = []string{fmt.Sprintf("ns-%d", i%10)}
		filtered[i] = q
	}
	// The exact answers, by the database's own brute force.
	truth := func(qs []platform.VectorQuery) [][]platform.VectorHit {
		out := make([][]platform.VectorHit, len(qs))
		for i, q := range qs {
			q.Exact = true
			if out[i], err = ix.Search(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		return out
	}
	start = time.Now()
	want := truth(qs)
	b.Logf("exact search: %v a query", (time.Since(start) / queries).Round(time.Microsecond))
	wantFiltered := truth(filtered)

	for _, set := range []struct {
		name string
		qs   []platform.VectorQuery
		want [][]platform.VectorHit
		efs  []int
	}{{"all", qs, want, []int{40, 100, 200, 400}}, {"one-namespace", filtered, wantFiltered, []int{40, 400}}} {
		for _, ef := range set.efs {
			ix.SetEfSearch(ef)
			found, total := 0, 0
			for i, q := range set.qs {
				hits, err := ix.Search(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				for _, h := range hits {
					if slices.ContainsFunc(set.want[i], func(w platform.VectorHit) bool { return w.ID == h.ID }) {
						found++
					}
				}
				total += len(set.want[i])
			}
			recall := float64(found) / float64(total)
			for _, clients := range []int{1, 8} {
				b.Run(fmt.Sprintf("%s/ef=%d/clients=%d", set.name, ef, clients), func(b *testing.B) {
					lat := searchLatencies(b, ix, set.qs, clients)
					b.ReportMetric(recall, "recall@10")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				})
			}
		}
	}
}

// searchLatencies runs b.N searches, the queries in turn, from clients
// goroutines at once, and returns their latencies, shortest first.
func searchLatencies(b *testing.B, ix *postgres.VectorIndex, qs []platform.VectorQuery, clients int) []time.Duration {
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range clients {
		wg.Go(func() {
			for i := c; i < b.N; i += clients {
				start := time.Now()
				if _, err := ix.Search(ctx, qs[i%len(qs)]); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	return lat
}

// gaussian returns dim values drawn from N(0, sd²).
func gaussian(r *rand.Rand, dim int, sd float64) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64() * sd)
	}
	return v
}
