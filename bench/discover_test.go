package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform/cmd/ossa/serve"
	"github.com/ossa-platform/platform/discovery/eval"
	"github.com/ossa-platform/platform/ossatest"
)

// BenchmarkAgentSearch times GET /api/v1/agents/search over HTTP: a
// gateway on the embedded store with OSSA_BENCH_AGENTS agents (1,000 by
// default: the 52 agents of discovery's evaluation set, copied under
// numbered names), searched for the set's 56 queries at random. "hybrid" is the default (the lexical
// embedder and the embedded index fused with full-text search); "words"
// is full-text search alone (OSSA_VECTOR_INDEX=none), measured in the
// same run as the reference; each with 1 client and with 8.
func BenchmarkAgentSearch(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("OSSA_BENCH_AGENTS")); err == nil && v > 0 {
		n = v
	}
	set, err := eval.Load("../discovery/testdata/eval")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"hybrid", "words"} {
		b.Run(fmt.Sprintf("%s/agents=%d", mode, n), func(b *testing.B) {
			db := ossatest.SQLite(b)
			ctx := context.Background()
			for i := range n {
				a := *set.Agents[i%len(set.Agents)]
				a.Name = fmt.Sprintf("%s-%d", a.Name, i)
				a.Labels = map[string]string{"copy": strconv.Itoa(i / len(set.Agents))}
				if err := db.CreateAgent(ctx, &a); err != nil {
					b.Fatal(err)
				}
			}
			p := ossatest.Start(b, ossatest.WithStore(db), ossatest.WithConfig(func(c *serve.Config) {
				if mode == "words" {
					c.VectorIndex = "none"
				}
				c.RateLimit = 0
			}))
			if mode == "hybrid" {
				waitIndexed(b, p.URL, n)
			}
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
			client := &http.Client{Transport: t, Timeout: 30 * time.Second}
			b.Cleanup(client.CloseIdleConnections)
			for _, clients := range []int{1, 8} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					searchLoad(b, client, p.URL, set.Queries, clients)
				})
			}
		})
	}
}

// searchLoad runs b.N searches for random queries from clients goroutines
// and reports p50, p99 and requests/s.
func searchLoad(b *testing.B, client *http.Client, base string, queries []eval.Query, clients int) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		next      atomic.Int64
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			defer func() { mu.Lock(); latencies = append(latencies, mine...); mu.Unlock() }()
			for next.Add(1) <= int64(b.N) {
				q := queries[rand.IntN(len(queries))].Text
				start := time.Now()
				err := get(client, base+"/api/v1/agents/search?limit=10&q="+url.QueryEscape(q))
				mine = append(mine, time.Since(start))
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(percentile(latencies, 50), "p50_ms")
	b.ReportMetric(percentile(latencies, 99), "p99_ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// waitIndexed waits until the gateway's vector index holds n agents
// (ossa_discovery_index_documents).
func waitIndexed(b *testing.B, base string, n int) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if have, err := indexed(base); err == nil && have >= n {
			return
		} else if time.Now().After(deadline) {
			b.Fatalf("the vector index holds %d of %d agents after 5 minutes (%v)", have, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func indexed(base string) (int, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "ossa_discovery_index_documents{") {
			_, v, _ := strings.Cut(line, "} ")
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no ossa_discovery_index_documents in /metrics: %v", sc.Err())
}
