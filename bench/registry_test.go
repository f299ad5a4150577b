package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/postgres"
)

// clientsPerCPU is passed to b.SetParallelism: RunParallel then runs this
// many client goroutines per GOMAXPROCS, so that requests overlap the way
// they do when many clients share a gateway, rather than one per core.
const clientsPerCPU = 4

// seedAgents is how many agents BenchmarkGetAgent registers before timing.
const seedAgents = 1000

// backends are the stores every registry benchmark runs on.
var backends = []struct {
	name string
	open func(b *testing.B) ossatest.Store
}{
	{"sqlite", func(b *testing.B) ossatest.Store { return ossatest.SQLite(b) }},
	{"postgres", openPostgres},
}

// openPostgres opens a store with the default pool in a new schema, dropped
// with everything in it when b ends. It skips without TEST_POSTGRES_URL.
func openPostgres(b *testing.B) ossatest.Store {
	b.Helper()
	url, schema, _ := testenv.PostgresSchema(b)
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	return db
}

// gateway serves db on a loopback port until b ends and returns its base
// URL and a client every goroutine of the benchmark shares. The client
// keeps enough idle connections that parallel requests reuse them instead
// of dialling anew, which would measure TCP setup rather than the gateway.
func gateway(b *testing.B, db ossatest.Store) (string, *http.Client) {
	b.Helper()
	srv := ossatest.Start(b, ossatest.WithStore(db)).Gateway
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	client := &http.Client{Transport: t, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	return srv.URL(), client
}

// register posts one agent named name and returns its ID, or an error
// that says what the gateway answered instead of 201.
func register(client *http.Client, base, name string) (string, error) {
	body := `{"name":"` + name + `","type":"worker","capabilities":["summarize"],"endpoint":"http://127.0.0.1:9001"}`
	resp, err := client.Post(base+"/api/v1/agents", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %s: %s", name, resp.Status, data)
	}
	var a platform.Agent
	if err := json.Unmarshal(data, &a); err != nil {
		return "", fmt.Errorf("POST %s: %w", name, err)
	}
	return a.ID, nil
}

// BenchmarkRegister measures POST /api/v1/agents from parallel clients,
// each request registering an agent of a new name.
func BenchmarkRegister(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			base, client := gateway(b, be.open(b))
			var seq atomic.Int64
			b.SetParallelism(clientsPerCPU)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					name := fmt.Sprintf("bench-agent-%d", seq.Add(1))
					if _, err := register(client, base, name); err != nil {
						// Error, not Fatal: this is not the benchmark's goroutine.
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
		})
	}
}

// BenchmarkGetAgent measures GET /api/v1/agents/{id} of random agents among
// seedAgents registered beforehand, reporting the latency clients saw.
func BenchmarkGetAgent(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			base, client := gateway(b, be.open(b))
			getAgents(b, client, base, seed(b, client, base))
		})
	}
}

// getAgents times GET /api/v1/agents/{id} of random agents among ids from
// parallel clients and reports the latency they saw and the throughput.
func getAgents(b *testing.B, client *http.Client, base string, ids []string) {
	b.Helper()
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
	)
	b.SetParallelism(clientsPerCPU)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine keeps its own and merges once, so that
		// recording costs no lock inside the timed loop.
		var mine []time.Duration
		defer func() {
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
		for pb.Next() {
			id := ids[rand.IntN(len(ids))]
			start := time.Now()
			err := get(client, base+"/api/v1/agents/"+id)
			mine = append(mine, time.Since(start))
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(percentile(latencies, 50), "p50_ms")
	b.ReportMetric(percentile(latencies, 99), "p99_ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// seed registers seedAgents agents, a few requests at a time, and returns
// their IDs.
func seed(b *testing.B, client *http.Client, base string) []string {
	b.Helper()
	ids := make([]string, seedAgents)
	errs := make([]error, seedAgents)
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < seedAgents; i += workers {
				ids[i], errs[i] = register(client, base, fmt.Sprintf("seed-agent-%d", i))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// get fetches url, reads the body to the end so that the connection is
// reused, and fails on anything but 200.
func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, data)
	}
	return nil
}

// percentile returns the nearest-rank p-th percentile of sorted in
// milliseconds, or 0 when there is none.
func percentile(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // ceil(n·p/100), a 1-based rank
	i = min(max(i, 1), len(sorted))
	return float64(sorted[i-1]) / float64(time.Millisecond)
}
