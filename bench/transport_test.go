//go:build ossabench

package bench

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// This file is built only with -tags ossabench, which also builds
// invoke/benchtransport.go into this binary and into the gateway it
// starts: there OSSA_BENCH_TRANSPORT picks the agent transport of each
// invoke.New ("handwritten" for invoke/transport.go, "nethttp" for
// net/http's Transport).
func init() { gatewayBuildFlags = []string{"-tags", "ossabench"} }

// benchTransports are the transports compared, in the order they run:
// OSSA_BENCH_TRANSPORTS, comma-separated, so that runs can alternate who
// goes first; default "handwritten,nethttp".
func benchTransports() []string {
	if v := os.Getenv("OSSA_BENCH_TRANSPORTS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"handwritten", "nethttp"}
}

// BenchmarkTransport compares the agent transports in one run:
//
//   - orchestrate/<backend>/<workflow>/<transport>: BenchmarkOrchestrate's
//     measure with the no-op agent a process of its own, so that cpu_us/step
//     is the gateway's alone (engine, River, store driver, agent calls);
//   - execute/clients=<n>: BenchmarkExecuteLatency's measure with one gateway
//     process per transport beside the direct path, taking turns in phases,
//     each gateway's CPU per request from /proc.
func BenchmarkTransport(b *testing.B) {
	b.Run("orchestrate", func(b *testing.B) {
		for _, be := range runBackends {
			for _, wf := range workflows {
				for _, tr := range benchTransports() {
					b.Run(be.name+"/"+wf.name+"/"+tr, func(b *testing.B) {
						logLoad(b, "before")
						b.Setenv("OSSA_BENCH_TRANSPORT", tr)
						agent := startAgentProcess(b, agentEnv+"=1")
						orchestrate(b, be.name, be.open, wf.steps, wf.spec, func(b *testing.B, db platform.AgentStore) {
							a := &platform.Agent{Name: "noop", Type: platform.AgentWorker, Capabilities: []string{"noop"}, Endpoint: agent}
							a.Normalize()
							if err := db.CreateAgent(b.Context(), a); err != nil {
								b.Fatal(err)
							}
						})
						logLoad(b, "after")
					})
				}
			}
		}
	})
	b.Run("execute", func(b *testing.B) {
		for _, clients := range latencyClients {
			b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { executeTransports(b, clients) })
		}
	})
}

func executeTransports(b *testing.B, clients int) {
	logLoad(b, "before")
	agent := startAgentProcess(b, agentEnv+"=1")
	type path struct {
		name string
		url  string
		pid  int
		lat  []time.Duration
	}
	paths := []*path{{name: "direct", url: agent}}
	for _, tr := range benchTransports() {
		gw := startGatewayProcess(b, "OSSA_BENCH_TRANSPORT="+tr)
		resp, err := http.Post(gw.url+"/api/v1/agents", "application/json",
			strings.NewReader(`{"name":"noop","type":"worker","capabilities":["noop"],"endpoint":"`+agent+`"}`))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("register the agent: %s", resp.Status)
		}
		paths = append(paths, &path{name: tr, url: gw.url + "/api/v1/agents/noop/execute", pid: gw.pid})
	}

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	client := &http.Client{Transport: t, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	body := `{"input":{}}`
	for _, p := range paths {
		if _, err := phase(client, p.url, body, clients, 4*clients); err != nil {
			b.Fatalf("%s: %v", p.name, err)
		}
	}

	cpu0 := make([]time.Duration, len(paths))
	for i, p := range paths {
		if p.pid != 0 {
			cpu0[i] = procCPU(p.pid)
		}
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += phaseRequests {
		n := min(phaseRequests, b.N-done)
		for _, p := range paths {
			lat, err := phase(client, p.url, body, clients, n)
			if err != nil {
				b.Fatalf("%s: %v", p.name, err)
			}
			p.lat = append(p.lat, lat...)
		}
	}
	b.StopTimer()

	var direct [2]float64
	for i, p := range paths {
		slices.Sort(p.lat)
		p50, p99 := percentile(p.lat, 50), percentile(p.lat, 99)
		b.ReportMetric(p50, p.name+"_p50_ms")
		b.ReportMetric(p99, p.name+"_p99_ms")
		if i == 0 {
			direct = [2]float64{p50, p99}
			continue
		}
		b.ReportMetric(p50-direct[0], p.name+"_added_p50_ms")
		b.ReportMetric(p99-direct[1], p.name+"_added_p99_ms")
		b.ReportMetric(float64((procCPU(p.pid)-cpu0[i]).Microseconds())/float64(b.N), p.name+"_cpu_us/req")
	}
	logLoad(b, "after")
}

// logLoad logs the machine's load average, which other engineers' work
// shares.
func logLoad(b *testing.B, when string) {
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("load %s: %s", when, strings.TrimSpace(string(load)))
}
