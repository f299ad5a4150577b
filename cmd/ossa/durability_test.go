package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossa-platform/platform/internal/testenv"
)

// The durability tests run the real binary as separate processes, kill
// them with SIGKILL in the middle of runs, and check that every run still
// ends with the right output.

// buildBinary builds ossa once per test binary.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ossa-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ossa")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// gatewayProcess is one `ossa serve` process.
type gatewayProcess struct {
	cmd *exec.Cmd
	url string
	mu  sync.Mutex
	log bytes.Buffer
}

// startGateway starts `ossa serve` with env on a free port and waits until
// it listens.
func startGateway(t *testing.T, env ...string) *gatewayProcess {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayProcess{cmd: exec.Command(bin, "serve")}
	g.cmd.Env = append(os.Environ(), append([]string{"SERVICE_PORT=0", "OSSA_HOST=127.0.0.1",
		"API_RATE_LIMIT=0", "OSSA_AGENT_HEALTH_INTERVAL=0", "OSSA_RUN_LEASE_TTL=1s", "LOG_LEVEL=info", "OSSA_AUTH=none"}, env...)...)
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.cmd.Process.Kill(); g.cmd.Wait() })
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			g.mu.Lock()
			g.log.WriteString(line + "\n")
			g.mu.Unlock()
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "gateway listening" {
				listening <- rec.URL
			}
		}
	}()
	select {
	case g.url = <-listening:
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway did not start:\n%s", g.logs())
	}
	return g
}

func (g *gatewayProcess) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

// runsStarted counts the runs this process started executing.
func (g *gatewayProcess) runsStarted() int {
	return strings.Count(g.logs(), `"msg":"run started"`)
}

func (g *gatewayProcess) kill(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	g.cmd.Wait()
}

// slowAgent is a real agent that takes delay per call and adds one to the
// input's n. It remembers every call by Idempotency-Key.
type slowAgent struct {
	*httptest.Server
	delay time.Duration

	mu       sync.Mutex
	calls    map[string]int // Idempotency-Key → calls received
	answered map[string]int // Idempotency-Key → calls answered
	inFlight int
}

func newSlowAgent(t *testing.T, delay time.Duration) *slowAgent {
	a := &slowAgent{delay: delay, calls: map[string]int{}, answered: map[string]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		key := r.Header.Get("Idempotency-Key")
		var body struct {
			Input struct{ N float64 } `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		a.mu.Lock()
		a.calls[key]++
		a.inFlight++
		a.mu.Unlock()
		defer func() { a.mu.Lock(); a.inFlight--; a.mu.Unlock() }()
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"output":{"n":%v}}`, body.Input.N+1)
		a.mu.Lock()
		a.answered[key]++
		a.mu.Unlock()
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *slowAgent) snapshot() (calls map[string]int, inFlight int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	calls = make(map[string]int, len(a.calls))
	for k, v := range a.calls {
		calls[k] = v
	}
	return calls, a.inFlight
}

// chainWorkflow is three steps in sequence, each adding one to n.
const chainWorkflow = `{"manifest": {
  "apiVersion": "ossa/v0.4.6", "kind": "Workflow",
  "metadata": {"name": "chain"},
  "spec": {
    "inputs": {"type": "object", "required": ["n"], "properties": {"n": {"type": "number"}}},
    "steps": [
      {"id": "one", "kind": "Agent", "ref": "adder", "input": {"n": "${{ workflow.input.n }}"}},
      {"id": "two", "kind": "Agent", "ref": "adder", "input": {"n": "${{ steps.one.output.n }}"}},
      {"id": "three", "kind": "Agent", "ref": "adder", "input": {"n": "${{ steps.two.output.n }}"}}
    ]
  }}}`

func call(t *testing.T, method, url, body string, want int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// setupChain registers the adder agent and the chain workflow, and submits
// runs with n = 0..runs-1, returning their IDs.
func setupChain(t *testing.T, gw string, agent string, runs int) []string {
	t.Helper()
	call(t, "POST", gw+"/api/v1/agents", fmt.Sprintf(`{"name":"adder","type":"worker","capabilities":["add"],"endpoint":%q}`, agent), 201)
	call(t, "POST", gw+"/api/v1/workflows", chainWorkflow, 201)
	var ids []string
	for i := range runs {
		out := call(t, "POST", gw+"/api/v1/orchestrate", fmt.Sprintf(`{"workflow":"chain","parameters":{"n":%d}}`, i*10), 202)
		ids = append(ids, out["run_id"].(string))
	}
	return ids
}

// stepStates returns each run's succeeded steps, as "run/step" keys: the
// Idempotency-Keys of the calls that must not be sent again.
func succeededSteps(t *testing.T, gw string, ids []string) map[string]bool {
	t.Helper()
	done := map[string]bool{}
	for _, id := range ids {
		run := call(t, "GET", gw+"/api/v1/runs/"+id, "", 200)
		steps, _ := run["steps"].([]any)
		for _, s := range steps {
			s := s.(map[string]any)
			if s["status"] == "succeeded" {
				done[id+"/"+s["id"].(string)] = true
			}
		}
	}
	return done
}

// waitRuns waits until every run has ended and checks each succeeded with
// n+3 from the last step.
func waitRuns(t *testing.T, gw string, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for i, id := range ids {
		for {
			run := call(t, "GET", gw+"/api/v1/runs/"+id, "", 200)
			status := run["status"].(string)
			if status == "succeeded" {
				out := run["output"].(map[string]any)["three"].(map[string]any)
				if got, want := out["n"], float64(i*10+3); got != want {
					t.Errorf("run %d: three.n = %v, want %v", i, got, want)
				}
				break
			}
			if status != "queued" && status != "running" {
				t.Fatalf("run %d ended %s: %v", i, status, run)
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d still %s after %s: %v", i, status, timeout, run)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitMidRun waits until some steps have succeeded and calls are in flight.
func waitMidRun(t *testing.T, gw string, agent *slowAgent, ids []string) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		done := succeededSteps(t, gw, ids)
		if _, inFlight := agent.snapshot(); len(done) > 0 && inFlight > 0 {
			return done
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("runs never reached the middle")
	return nil
}

// checkOnce checks that no step recorded as succeeded before the kill was
// called again after it, and that every interrupted call was sent again
// with the Idempotency-Key it had.
func checkOnce(t *testing.T, before, after map[string]int, done map[string]bool) {
	t.Helper()
	for key := range done {
		if after[key] != before[key] {
			t.Errorf("step %s had succeeded before the kill but was called again: %d calls before, %d after", key, before[key], after[key])
		}
	}
	for key, n := range before {
		if !done[key] && after[key] < n {
			t.Errorf("step %s: %d calls before, %d after", key, n, after[key])
		}
	}
}

func TestRunsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills gateway processes")
	}
	t.Parallel()
	agent := newSlowAgent(t, 700*time.Millisecond)
	data := t.TempDir()
	gw := startGateway(t, "OSSA_DATA_DIR="+data)
	ids := setupChain(t, gw.url, agent.URL, 6)

	done := waitMidRun(t, gw.url, agent, ids)
	before, _ := agent.snapshot()
	gw.kill(t)
	// Calls cut off by the kill are in before but have no answer: they
	// must come again with the same key.
	gw2 := startGateway(t, "OSSA_DATA_DIR="+data)
	waitRuns(t, gw2.url, ids, 60*time.Second)
	after, _ := agent.snapshot()
	checkOnce(t, before, after, done)
	interrupted := 0
	for key := range before {
		if !done[key] && after[key] > before[key] {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Errorf("no interrupted step was sent again; before=%v done=%v after=%v", before, done, after)
	}
}

func TestRunsSurviveReplicaKillPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills gateway processes")
	}
	t.Parallel()
	_, _, url := testenv.PostgresSchema(t)
	agent := newSlowAgent(t, 500*time.Millisecond)
	// Five runs at once per replica: ten runs cannot all go to one, so
	// both replicas work some whatever the load on the machine.
	a := startGateway(t, "POSTGRES_URL="+url, "OSSA_RUN_WORKERS=5")
	b := startGateway(t, "POSTGRES_URL="+url, "OSSA_RUN_WORKERS=5")
	ids := setupChain(t, a.url, agent.URL, 10)

	deadline := time.Now().Add(30 * time.Second)
	for a.runsStarted() == 0 || b.runsStarted() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the replicas did not share the runs: a started %d, b %d", a.runsStarted(), b.runsStarted())
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := waitMidRun(t, b.url, agent, ids)
	before, _ := agent.snapshot()
	a.kill(t)
	waitRuns(t, b.url, ids, 60*time.Second)
	after, _ := agent.snapshot()
	checkOnce(t, before, after, done)
}

// TestRunsResumeSoonAfterGracefulStop stops a gateway with SIGTERM in the
// middle of runs whose leases last a minute: it gives the leases back as
// it stops, so the next gateway resumes the runs at once, not a minute on.
func TestRunsResumeSoonAfterGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and stops gateway processes")
	}
	t.Parallel()
	agent := newSlowAgent(t, 1500*time.Millisecond)
	data := t.TempDir()
	env := []string{"OSSA_DATA_DIR=" + data, "OSSA_RUN_LEASE_TTL=60s"}
	gw := startGateway(t, env...)
	ids := setupChain(t, gw.url, agent.URL, 3)
	waitMidRun(t, gw.url, agent, ids)
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	gw.cmd.Wait()
	gw2 := startGateway(t, env...)
	// Well under the 60 s the leases would otherwise hold the runs.
	waitRuns(t, gw2.url, ids, 30*time.Second)
}
