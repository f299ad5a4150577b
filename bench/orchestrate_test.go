package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/internal/gatewaytest"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/queue"
	"github.com/ossa-platform/platform/sqlite"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for River's own handle
)

// Production defaults, as cmd/ossa sets them when nothing is configured:
// OSSA_RUN_WORKERS=100 runs at once per gateway, and the reaper every
// min(OSSA_RUN_LEASE_TTL/2, 5s) = 5s. The engine keeps its own defaults
// (15s leases, 60s step timeout); health probes are off, as in
// gatewaytest, so that they neither add load nor mark agents down.
const (
	runWorkers = 100
	reapEvery  = 5 * time.Second
)

// submitters is how many goroutines store the backlog of runs before an
// orchestration benchmark starts its timer.
const submitters = 8

// workflows are the shapes BenchmarkOrchestrate runs; steps is how many
// agent calls one run makes.
var workflows = []struct {
	name  string
	steps int
	spec  string
}{
	// Three steps, each waiting for the one before and reading its output.
	{"sequential3", 3, `{"steps":[
	  {"id":"a","kind":"Agent","ref":"noop","input":{"n":1}},
	  {"id":"b","kind":"Agent","ref":"noop","depends_on":["a"],"input":{"prev":"${{ steps.a.output }}"}},
	  {"id":"c","kind":"Agent","ref":"noop","depends_on":["b"],"input":{"prev":"${{ steps.b.output }}"}}]}`},
	// Ten independent steps, which the engine calls at once.
	{"fanout10", 10, `{"steps":[` + fanout(10) + `]}`},
}

func fanout(n int) string {
	steps := make([]string, n)
	for i := range steps {
		steps[i] = fmt.Sprintf(`{"id":"s%d","kind":"Agent","ref":"noop","input":{"i":%d}}`, i, i)
	}
	return strings.Join(steps, ",")
}

// noopAgent starts an agent that answers every call with an empty output
// at once, until b ends, and registers it as "noop" in db.
func noopAgent(b *testing.B, db platform.AgentStore) {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(serveNoop))
	b.Cleanup(srv.Close)
	a := &platform.Agent{Name: "noop", Type: platform.AgentWorker, Capabilities: []string{"noop"}, Endpoint: srv.URL}
	a.Normalize()
	if err := db.CreateAgent(context.Background(), a); err != nil {
		b.Fatal(err)
	}
}

// serveNoop is a no-op agent: it reads the call to the end, so that the
// connection is reused, and answers {"output":{}}.
func serveNoop(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"output":{}}`)
}

// BenchmarkOrchestrate measures how fast the engine works off a backlog of
// runs: b.N runs of one workflow are stored (eng.NewRun, then
// db.CreateRun, which enqueues each run's River job) while the queue is
// not yet working, then the timer starts with the queue and stops when no
// run is queued or running. A backlog keeps all runWorkers busy from the
// first instant to the last, so the figure is the engine's capacity,
// without the ramp and the client pacing a run-at-a-time loop would
// measure; storing the backlog is reported apart, as submit_runs/s.
//
// Beside the rates, which depend on what else the machine is doing, it
// reports the CPU time spent per step while the timer ran: by this
// process (engine, River, store driver, and the agents, which are
// in-process httptest servers) and, on PostgreSQL, by the server
// processes of the store's connections. Their sum bounds the rate an
// otherwise idle machine can reach: cores / CPU per step.
func BenchmarkOrchestrate(b *testing.B) {
	for _, be := range runBackends {
		for _, wf := range workflows {
			b.Run(be.name+"/"+wf.name, func(b *testing.B) {
				db, dbCPU := be.open(b)
				noopAgent(b, db)
				eng := gatewaytest.Engine(db, engine.Config{})
				b.Cleanup(func() { eng.Close() })
				submitted := submit(b, eng, db, wf.spec, b.N)

				cpu0, db0 := processCPU(), dbCPU()
				b.ResetTimer()
				if err := db.StartQueue(context.Background(), queue.Config{Executor: eng, Workers: runWorkers, ReapEvery: reapEvery}); err != nil {
					b.Fatal(err)
				}
				eng.Start()
				waitIdle(b, db)
				b.StopTimer()
				cpu, dbc := processCPU()-cpu0, dbCPU()-db0

				checkSucceeded(b, db)
				steps := float64(b.N * wf.steps)
				secs := b.Elapsed().Seconds()
				b.ReportMetric(steps/secs, "steps/s")
				b.ReportMetric(float64(b.N)/secs, "runs/s")
				b.ReportMetric(float64(b.N)/submitted.Seconds(), "submit_runs/s")
				b.ReportMetric(float64(cpu.Microseconds())/steps, "cpu_us/step")
				if be.name == "postgres" {
					b.ReportMetric(float64(dbc.Microseconds())/steps, "pg_cpu_us/step")
				}
			})
		}
	}
}

// runBackends are the stores the orchestration benchmarks run on. open
// returns a fresh store and a meter of the CPU time its database server
// has used for it so far (none for SQLite, which runs in this process).
var runBackends = []struct {
	name string
	open func(b *testing.B) (gatewaytest.Store, func() time.Duration)
}{
	{"sqlite", func(b *testing.B) (gatewaytest.Store, func() time.Duration) {
		return gatewaytest.SQLite(b), func() time.Duration { return 0 }
	}},
	{"postgres", func(b *testing.B) (gatewaytest.Store, func() time.Duration) {
		db := openMeteredPostgres(b)
		return db, db.serverCPU
	}},
}

// meteredPostgres is a store in a new schema whose connections carry an
// application_name of their own, by which serverCPU finds the server
// processes that serve them.
type meteredPostgres struct {
	*postgres.DB
	b   *testing.B
	app string
}

// openMeteredPostgres opens a store with the default pool in a new schema,
// dropped with everything in it when b ends. It skips without
// TEST_POSTGRES_URL.
func openMeteredPostgres(b *testing.B) *meteredPostgres {
	b.Helper()
	url, schema, _ := testenv.PostgresSchema(b)
	app := "ossa_bench_" + strings.TrimPrefix(schema, "test_")
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url + sep + "application_name=" + app, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	return &meteredPostgres{DB: db, b: b, app: app}
}

// serverCPU sums the CPU time, user and system, of the server processes
// of the store's connections, read from /proc: it counts only when the
// server runs on this machine, as it does on loopback, and returns 0
// otherwise. A connection closed since the last reading takes its time
// with it; the pool closes none in the seconds a benchmark lasts.
func (db *meteredPostgres) serverCPU() time.Duration {
	rows, err := db.Pool().Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, db.app)
	if err != nil {
		db.b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		db.b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		total += procCPU(int(pid))
	}
	return total
}

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, which is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time process pid has used, or 0 when it cannot
// be read.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces; utime and stime
	// are the 12th and 13th fields after it.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// submit stores n runs of the workflow spec from several goroutines and
// returns how long that took.
func submit(b *testing.B, eng *engine.Engine, db platform.RunStore, spec string, n int) time.Duration {
	b.Helper()
	def := json.RawMessage(`{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"bench"},"spec":` + spec + `}`)
	wf := &platform.Workflow{Name: "bench", Definition: def}
	ctx := context.Background()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for range submitters {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				run, err := eng.NewRun(ctx, platform.DefaultNamespace, wf, nil, json.RawMessage(`{}`))
				if err == nil {
					err = db.CreateRun(ctx, run)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	return time.Since(start)
}

// waitIdle returns once no run is queued or running. It looks every
// 20 ms, with one or two index lookups (runs are indexed by namespace,
// status and ID): a small cost beside the work measured, and a small
// error beside the seconds it lasts.
func waitIdle(b *testing.B, db platform.RunStore) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for !noRun(b, db, platform.RunQueued) || !noRun(b, db, platform.RunRunning) {
		if time.Now().After(deadline) {
			b.Fatal("runs still queued or running after 10 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noRun reports whether no run has status st.
func noRun(b *testing.B, db platform.RunStore, st platform.RunStatus) bool {
	b.Helper()
	page, err := db.ListRuns(context.Background(), platform.RunFilter{Namespace: platform.DefaultNamespace, Status: st, Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	return len(page.Items) == 0
}

// checkSucceeded fails b when any run ended other than succeeded: a
// failing agent call would make the figures meaningless.
func checkSucceeded(b *testing.B, db platform.RunStore) {
	b.Helper()
	for _, st := range []platform.RunStatus{platform.RunFailed, platform.RunCancelled, platform.RunTimedOut} {
		page, err := db.ListRuns(context.Background(), platform.RunFilter{Namespace: platform.DefaultNamespace, Status: st, Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Items) > 0 {
			b.Fatalf("run %s %s: %s", page.Items[0].ID, st, page.Items[0].Error)
		}
	}
}

// riverBatch is how many jobs one InsertMany call stores.
const riverBatch = 1000

// noopArgs is the job BenchmarkRiverNoop works: nothing.
type noopArgs struct{}

func (noopArgs) Kind() string { return "bench.noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// BenchmarkRiverNoop is River's own ceiling on the same databases and
// settings as the run queue (queue.New): b.N no-op jobs are inserted
// (InsertMany, riverBatch at a time) before the client starts, then the
// timer runs from Start until River reports the last job completed. Every
// run of BenchmarkOrchestrate is one such job plus the engine's work, so
// runs/s there over jobs/s here is the share of River's capacity the
// engine leaves.
func BenchmarkRiverNoop(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		h := riverSQLite(b)
		benchRiver(b, riversqlite.New(h), true, func() time.Duration { return 0 })
	})
	b.Run("postgres", func(b *testing.B) {
		// The store's own pool, default size, with River's tables
		// migrated into the schema, as StartQueue would use it.
		db := openMeteredPostgres(b)
		benchRiver(b, riverpgxv5.New(db.Pool()), false, db.serverCPU)
	})
}

// riverSQLite opens a fresh database file for River the way sqlite.Open
// opens River's handle: the same pragmas, one connection, River's tables
// migrated.
func riverSQLite(b *testing.B) *sql.DB {
	b.Helper()
	h, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(b.TempDir(), "river.db")))
	if err != nil {
		b.Fatal(err)
	}
	h.SetMaxOpenConns(1)
	b.Cleanup(func() { h.Close() })
	if err := queue.Migrate(context.Background(), riversqlite.New(h), nil); err != nil {
		b.Fatal(err)
	}
	return h
}

func benchRiver[TTx any](b *testing.B, driver riverdriver.Driver[TTx], pollOnly bool, dbCPU func() time.Duration) {
	b.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})
	// What queue.New sets.
	cfg := &river.Config{
		Logger:        slog.New(slog.DiscardHandler),
		PollOnly:      pollOnly,
		JobTimeout:    -1,
		MaxAttempts:   100,
		FetchCooldown: 20 * time.Millisecond,
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: runWorkers}},
		Workers:       workers,
	}
	if pollOnly {
		cfg.FetchPollInterval = 100 * time.Millisecond
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	params := make([]river.InsertManyParams, 0, riverBatch)
	for i := 0; i < b.N; i += riverBatch {
		params = params[:0]
		for range min(riverBatch, b.N-i) {
			params = append(params, river.InsertManyParams{Args: noopArgs{}})
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
		ChanSize: b.N + 1,
	})
	defer cancel()

	cpu0, db0 := processCPU(), dbCPU()
	b.ResetTimer()
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(10 * time.Minute)
	for done := 0; done < b.N; done++ {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				b.Fatalf("job %d: %s", ev.Job.ID, ev.Kind)
			}
		case <-timeout:
			b.Fatalf("%d of %d jobs completed after 10 minutes", done, b.N)
		}
	}
	b.StopTimer()
	cpu, dbc := processCPU()-cpu0, dbCPU()-db0
	stop, cancelStop := context.WithTimeout(ctx, 10*time.Second)
	defer cancelStop()
	if err := client.Stop(stop); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/job")
	if !pollOnly {
		b.ReportMetric(float64(dbc.Microseconds())/float64(b.N), "pg_cpu_us/job")
	}
}
