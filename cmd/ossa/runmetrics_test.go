package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
)

// metricsSample reads one sample of gw's /metrics, 0 when it has none.
func metricsSample(t *testing.T, gw, name string) float64 {
	t.Helper()
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// TestRunMetricsAcrossReplicas runs workflows on two gateways sharing one
// PostgreSQL and one Redis, and checks that the run and step counts of the
// two replicas, summed, count each run and step once.
func TestRunMetricsAcrossReplicas(t *testing.T) {
	c := newConfig(t) // changes directory: not parallel
	_, _, c.PostgresURL = testenv.PostgresSchema(t)
	c.RedisURL = testenv.RedisURL(t)
	c.RedisPrefix = "ossa-test:" + testenv.RandomName() + ":"
	a, b := openMain(t, c), openMain(t, c)
	gws := []string{a.Server.URL(), b.Server.URL()}
	agent := newSlowAgent(t, 5*time.Millisecond)

	// Runs submitted on both; both replicas' workers share them.
	ids := setupChain(t, gws[0], agent.URL, 4)
	for i := range 4 {
		out := call(t, "POST", gws[1]+"/api/v1/orchestrate", fmt.Sprintf(`{"workflow":"chain","parameters":{"n":%d}}`, 40+i*10), 202)
		ids = append(ids, out["run_id"].(string))
	}
	waitRuns(t, gws[0], ids, 60*time.Second)

	// A change made after the runs ended has a later event than theirs;
	// once both hubs delivered it, both sequenced and counted theirs (a
	// hub counts what it sequences before it delivers it).
	marker := watch(t, gws[0], "agent:marker")
	registerAgent(t, gws[0], "marker", agent.URL)
	last := marker.until(t, 10*time.Second, func(e *platform.Event) bool { return e.Type == platform.EventAgentRegistered })
	markerID := last[len(last)-1].ID
	deadline := time.Now().Add(20 * time.Second)
	for a.Hub.Metrics().Last < markerID || b.Hub.Metrics().Last < markerID {
		if time.Now().After(deadline) {
			t.Fatalf("the hubs delivered up to %d and %d, want %d", a.Hub.Metrics().Last, b.Hub.Metrics().Last, markerID)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for name, want := range map[string]float64{
		`ossa_runs_started_total{workflow="chain"}`:                            8,
		`ossa_runs_finished_total{status="succeeded",workflow="chain"}`:        8,
		`ossa_run_duration_seconds_count{status="succeeded",workflow="chain"}`: 8,
		`ossa_run_queue_wait_seconds_count{workflow="chain"}`:                  8,
		`ossa_steps_finished_total{status="succeeded",workflow="chain"}`:       24,
	} {
		var sum float64
		var each []float64
		for _, gw := range gws {
			v := metricsSample(t, gw, name)
			sum += v
			each = append(each, v)
		}
		if sum != want {
			t.Errorf("%s: %v on the replicas, %v in all; want %v", name, each, sum, want)
		}
	}
	// The gauges come from the database: the same on both.
	for _, gw := range gws {
		if q, r := metricsSample(t, gw, `ossa_runs{status="queued"}`), metricsSample(t, gw, `ossa_runs{status="running"}`); q != 0 || r != 0 {
			t.Errorf("%s: %v queued and %v running, want none", gw, q, r)
		}
	}
}
