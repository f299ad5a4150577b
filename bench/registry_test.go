package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/gatewaytest"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
)

type store interface {
	platform.AgentStore
	platform.Database
}

// backends opens each store a benchmark runs on.
var backends = []struct {
	name string
	open func(b *testing.B) store
}{
	{"sqlite", func(b *testing.B) store { return gatewaytest.SQLite(b) }},
	{"postgres", func(b *testing.B) store {
		_, schema, url := testenv.PostgresSchema(b)
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(db.Close)
		return db
	}},
}

// gateway starts a real gateway on loopback over db.
func gateway(b *testing.B, db store) string {
	return gatewaytest.Start(b, db).URL()
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

func register(url, name string) (int, error) {
	body := fmt.Sprintf(`{"name":%q,"type":"worker","capabilities":["summarize","translate"],"endpoint":"http://localhost:9001","labels":{"team":"bench"}}`, name)
	resp, err := client.Post(url+"/api/v1/agents", "application/json", bytes.NewBufferString(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// BenchmarkRegister measures POST /api/v1/agents over HTTP: registrations
// per second with GOMAXPROCS×4 concurrent clients.
func BenchmarkRegister(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			url := gateway(b, be.open(b))
			var seq atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					status, err := register(url, fmt.Sprintf("agent-%d", seq.Add(1)))
					if err != nil || status != http.StatusCreated {
						b.Errorf("register: %d %v", status, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registrations/s")
		})
	}
}

// BenchmarkGetAgent measures GET /api/v1/agents/{id} over HTTP on a
// registry of 1,000 agents: p50 and p99 latency and requests per second
// with GOMAXPROCS×4 concurrent clients.
func BenchmarkGetAgent(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			db := be.open(b)
			url := gateway(b, db)
			ids := make([]string, 1000)
			for i := range ids {
				a := &platform.Agent{Name: fmt.Sprintf("agent-%d", i), Type: platform.AgentWorker,
					Capabilities: []string{"summarize"}, Endpoint: "http://localhost:9001"}
				a.Normalize()
				if err := db.CreateAgent(context.Background(), a); err != nil {
					b.Fatal(err)
				}
				ids[i] = a.ID
			}
			var (
				mu        sync.Mutex
				latencies []time.Duration
			)
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					resp, err := client.Get(url + "/api/v1/agents/" + ids[rand.IntN(len(ids))])
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine = append(mine, time.Since(t0))
					if resp.StatusCode != http.StatusOK {
						b.Errorf("get: %d", resp.StatusCode)
						return
					}
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(latencies)
			ms := func(q float64) float64 {
				return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.50), "p50_ms")
			b.ReportMetric(ms(0.99), "p99_ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "requests/s")
		})
	}
}
