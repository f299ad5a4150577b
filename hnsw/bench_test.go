package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// The benchmark's corpus stands in for agents' text embedded by a
// sentence model of 384 dimensions (all-MiniLM-L6-v2's size); there is no
// embedder in the repository to embed 100,000 texts with, so the vectors
// are drawn the way such embeddings are shaped:
//
//   - 50 domains (finance, logistics...), random directions;
//   - 10 topics in each (500 in all), a topic at cosine about 0.45 with
//     the others of its domain and about 0 with the rest;
//   - each agent a topic plus noise whose variance decays over the
//     dimensions (weight 1/(1+j/16) on dimension j), so the corpus has an
//     intrinsic dimension of about 40, as text embeddings have, rather
//     than noise spread evenly over all 384, which no real text has and
//     which makes nearest neighbours meaningless; two agents of one topic
//     are at cosine about 0.5.
//
// Queries are drawn the same way: sentences about one of the topics.
// OSSA_BENCH_VECTORS changes the corpus's size (100,000 by default),
// OSSA_BENCH_EF_CONSTRUCTION the index's efConstruction (200).

const benchDim = 384

type corpus struct {
	docs    []platform.VectorDoc
	queries [][]float32
}

var (
	benchOnce  sync.Once
	benchData  corpus
	benchIndex *Index
	benchBuild time.Duration
	// benchBuildCPU is the CPU time the build took, on every core: a
	// figure the other processes of a shared machine change less than
	// the wall clock's.
	benchBuildCPU time.Duration
	benchHeapMB   float64
	benchTruth    [][]string
)

func genCorpus(n, queries int) corpus {
	r := rand.New(rand.NewPCG(42, 42))
	const domains, perDomain = 50, 10
	topics := make([][]float32, 0, domains*perDomain)
	for range domains {
		d := randomVector(r, benchDim)
		for range perDomain {
			g := randomVector(r, benchDim)
			t := make([]float32, benchDim)
			for j := range t {
				t[j] = d[j] + 1.1*g[j]
			}
			topics = append(topics, platform.Normalize(t))
		}
	}
	weight := make([]float32, benchDim)
	var sum float64
	for j := range weight {
		weight[j] = 1 / (1 + float32(j)/16)
		sum += float64(weight[j] * weight[j])
	}
	// Noise of norm about 1 against a topic of norm 1: cosine about 0.7
	// with its topic, 0.5 with another agent of the topic.
	scale := float32(1 / math.Sqrt(sum))
	draw := func() []float32 {
		t := topics[r.IntN(len(topics))]
		v := make([]float32, benchDim)
		for j := range v {
			v[j] = t[j] + scale*weight[j]*float32(r.NormFloat64())
		}
		return platform.Normalize(v)
	}
	c := corpus{docs: make([]platform.VectorDoc, n), queries: make([][]float32, queries)}
	for i := range c.docs {
		c.docs[i] = platform.VectorDoc{ID: fmt.Sprintf("agent-%06d", i), Namespace: fmt.Sprintf("team-%d", i%20), Vector: draw(),
			Type: platform.AgentWorker, Status: platform.AgentActive, Capabilities: []string{fmt.Sprintf("cap-%d", i%100)}}
	}
	for i := range c.queries {
		c.queries[i] = draw()
	}
	return c
}

// benchSetup builds the corpus and the index once for every benchmark of
// the run, measuring the build's time and heap, and the exact top 10 of
// the first 200 queries.
func benchSetup(b *testing.B) {
	benchOnce.Do(func() {
		n := 100_000
		if s := os.Getenv("OSSA_BENCH_VECTORS"); s != "" {
			var err error
			if n, err = strconv.Atoi(s); err != nil {
				b.Fatalf("OSSA_BENCH_VECTORS: %v", err)
			}
		}
		benchData = genCorpus(n, 1000)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start, cpu := time.Now(), cpuTime()
		var opts Options
		if s := os.Getenv("OSSA_BENCH_EF_CONSTRUCTION"); s != "" {
			opts.EfConstruction, _ = strconv.Atoi(s)
		}
		benchIndex = New(benchDim, opts)
		for i := 0; i < n; i += 1000 {
			if err := benchIndex.Upsert(ctx, benchData.docs[i:min(i+1000, n)]...); err != nil {
				b.Fatal(err)
			}
		}
		benchBuild, benchBuildCPU = time.Since(start), cpuTime()-cpu
		runtime.GC()
		runtime.ReadMemStats(&after)
		benchHeapMB = float64(after.HeapInuse-before.HeapInuse) / (1 << 20)
		benchTruth = make([][]string, 200)
		for i := range benchTruth {
			q := all(benchData.queries[i], 10)
			q.Exact = true
			hits, err := benchIndex.Search(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			benchTruth[i] = ids(hits)
		}
	})
}

// benchRecall is the share of the exact top 10 of the first queries that
// searches at limit find in their first 10 hits.
func benchRecall(limit int) float64 {
	found := 0
	for i, want := range benchTruth {
		hits, _ := benchIndex.Search(ctx, all(benchData.queries[i], limit))
		for _, h := range hits[:min(10, len(hits))] {
			if slices.Contains(want, h.ID) {
				found++
			}
		}
	}
	return float64(found) / float64(10*len(benchTruth))
}

// BenchmarkEfSearch reports recall@10 and the mean latency of a search
// at limit 10 for each efSearch, one search at a time: the curve
// DefaultEfSearch is chosen on.
func BenchmarkEfSearch(b *testing.B) {
	benchSetup(b)
	for _, ef := range []int{32, 64, 96, 128, 200, 300} {
		b.Run(fmt.Sprintf("ef=%d", ef), func(b *testing.B) {
			defer func(old int) { benchIndex.opts.EfSearch = old }(benchIndex.opts.EfSearch)
			benchIndex.opts.EfSearch = ef
			i := 0
			for b.Loop() {
				if _, err := benchIndex.Search(ctx, all(benchData.queries[i%len(benchData.queries)], 10)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(benchRecall(10), "recall@10")
		})
	}
}

// BenchmarkBuild reports how long the index of the corpus took to build
// and the heap it holds.
func BenchmarkBuild(b *testing.B) {
	benchSetup(b)
	for b.Loop() {
	}
	b.ReportMetric(benchBuild.Seconds(), "build-s")
	b.ReportMetric(benchBuildCPU.Seconds(), "build-cpu-s")
	b.ReportMetric(benchHeapMB, "heap-MB")
	b.ReportMetric(float64(len(benchData.docs)), "docs")
}

// BenchmarkSearch measures searches of the corpus's index by 1 and by 8
// clients at once, approximate and exact, at limit 10 and at limit 50
// (what discovery asks for a page of 10): the latency of each search, and
// the recall@10 of the approximate search against the exact one.
func BenchmarkSearch(b *testing.B) {
	benchSetup(b)
	for _, c := range []struct {
		name    string
		limit   int
		exact   bool
		clients int
		// namespaces confine the search: 1 of 20 (5% of the corpus,
		// answered by brute force over the matches), 5 of 20 (25%, the
		// graph skipping the others).
		namespaces int
		// ef is the efSearch of the case, DefaultEfSearch when 0.
		ef int
	}{
		{"hnsw/limit=10/clients=1", 10, false, 1, 0, 0},
		{"hnsw/limit=10/clients=8", 10, false, 8, 0, 0},
		{"hnsw/limit=50/clients=1", 50, false, 1, 0, 0},
		{"hnsw/limit=50/clients=8", 50, false, 8, 0, 0},
		{"exact/limit=10/clients=1", 10, true, 1, 0, 0},
		{"exact/limit=10/clients=8", 10, true, 8, 0, 0},
		{"filtered-5%/limit=10/clients=1", 10, false, 1, 1, 0},
		{"filtered-25%/limit=10/clients=1", 10, false, 1, 5, 0},
		{"hnsw-ef=96/limit=10/clients=1", 10, false, 1, 0, 96},
		{"hnsw-ef=96/limit=10/clients=8", 10, false, 8, 0, 96},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.ef > 0 {
				defer func(old int) { benchIndex.opts.EfSearch = old }(benchIndex.opts.EfSearch)
				benchIndex.opts.EfSearch = c.ef
			}
			lat := make([][]time.Duration, c.clients)
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu := cpuTime()
			for w := range c.clients {
				wg.Go(func() {
					for i := w; i < b.N; i += c.clients {
						q := all(benchData.queries[i%len(benchData.queries)], c.limit)
						q.Exact = c.exact
						if c.namespaces > 0 {
							q.Namespaces = nil
							for t := range c.namespaces {
								q.Namespaces = append(q.Namespaces, fmt.Sprintf("team-%d", t))
							}
						}
						start := time.Now()
						if _, err := benchIndex.Search(ctx, q); err != nil {
							b.Error(err)
							return
						}
						lat[w] = append(lat[w], time.Since(start))
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
			}
			if !c.exact && c.namespaces == 0 {
				b.ReportMetric(benchRecall(c.limit), "recall@10")
			}
		})
	}
}

// BenchmarkCrossover times a search of the graph and an exact one at
// limit 10 on corpora of growing size: where the graph gets faster is
// where DefaultExactBelow belongs.
func BenchmarkCrossover(b *testing.B) {
	for _, n := range []int{1000, 2000, 4000, 8000, 16000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			c := genCorpus(n, 500)
			ix := New(benchDim, Options{ExactBelow: -1})
			if err := ix.Upsert(ctx, c.docs...); err != nil {
				b.Fatal(err)
			}
			timeit := func(exact bool) float64 {
				start := time.Now()
				for _, v := range c.queries {
					q := all(v, 10)
					q.Exact = exact
					if _, err := ix.Search(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				return float64(time.Since(start).Microseconds()) / float64(len(c.queries))
			}
			// One pass of the queries each way, whatever b.N: the figures
			// are per search already.
			graph, exact := timeit(false), timeit(true)
			for b.Loop() {
			}
			b.ReportMetric(graph, "graph-us")
			b.ReportMetric(exact, "exact-us")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
