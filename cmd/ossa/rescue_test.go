package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
)

// TestRunFetchedButNotLeasedIsRescued kills a gateway in the one window
// the lease alone cannot cover: River has handed the run's job to the
// gateway (the job row is running, attempted by it) but the gateway has not
// yet taken the run's lease (the run is still queued, leased to nobody).
// River never rescues a job without a timeout, which run jobs are, so the
// next gateway's reaper must find the run by its stuck job, requeue it and
// cancel the dead gateway's job, which River's rescuer then finalizes.
//
// The window is held open without any hook in the gateway: the test locks
// the run's row, so the gateway's AcquireRun (SELECT ... FOR UPDATE) waits
// on it after River has marked the job running; the test kills the
// gateway while it waits, then lets the lock go.
func TestRunFetchedButNotLeasedIsRescued(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills gateway processes")
	}
	t.Parallel()
	ctx := context.Background()
	_, schema, url := testenv.PostgresSchema(t)
	agent := newSlowAgent(t, 10*time.Millisecond)

	// The run is stored by a store that works no jobs, so that no gateway
	// has fetched it when the test locks its row.
	db, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := createChainRun(t, db, agent.URL)

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var lockPID int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM runs WHERE id = $1 FOR UPDATE`, run.ID).Scan(&lockPID); err != nil {
		t.Fatal(err)
	}

	a := startGateway(t, "POSTGRES_URL="+url)
	// Wait for the window: River marked the job running for gateway a, and
	// a's AcquireRun waits on the test's lock.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var jobs, waiting int
		err := db.Pool().QueryRow(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE args->>'run_id' = $1 AND state = 'running' AND attempted_by IS NOT NULL),
			(SELECT count(*) FROM pg_stat_activity WHERE $2 = ANY(pg_blocking_pids(pid)))`, run.ID, lockPID).Scan(&jobs, &waiting)
		if err != nil {
			t.Fatal(err)
		}
		if jobs == 1 && waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never waited on the run's lock (running jobs %d, waiting %d):\n%s", jobs, waiting, a.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.kill(t)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	stuck, err := db.FindRun(ctx, platform.DefaultNamespace, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stuck.Status != platform.RunQueued {
		t.Fatalf("after the kill the run is %s, want it still queued (the window was missed)", stuck.Status)
	}

	// The next gateway's reaper takes the job for stuck once it has run
	// for four lease TTLs (at least 5 s) with the run unleased.
	b := startGateway(t, "POSTGRES_URL="+url)
	waitRuns(t, b.url, []string{run.ID}, 60*time.Second)
	// The dead gateway's job does not stay running: River's rescuer
	// finalizes it as cancelled at its next pass (every 30 s).
	deadline = time.Now().Add(60 * time.Second)
	for {
		var running int
		if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d River jobs still running a minute after the run finished (schema %s)", running, schema)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var state string
	if err := db.Pool().QueryRow(ctx, `SELECT state FROM river_job WHERE args->>'run_id' = $1 ORDER BY id LIMIT 1`, run.ID).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "cancelled" {
		t.Errorf("the dead gateway's job ended %s, want cancelled", state)
	}
}

// createChainRun stores the adder agent, the chain workflow and one queued
// run of it with n = 0, as POST /api/v1/orchestrate would.
func createChainRun(t *testing.T, db *postgres.DB, agentURL string) *platform.Run {
	t.Helper()
	ctx := context.Background()
	a := &platform.Agent{Name: "adder", Type: platform.AgentWorker, Capabilities: []string{"add"}, Endpoint: agentURL}
	a.Normalize()
	if err := db.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	var wrapped struct{ Manifest json.RawMessage }
	if err := json.Unmarshal([]byte(chainWorkflow), &wrapped); err != nil {
		t.Fatal(err)
	}
	wf := &platform.Workflow{Namespace: platform.DefaultNamespace, Name: "chain", APIVersion: "ossa/v0.4.6", Definition: wrapped.Manifest}
	if err := db.CreateWorkflow(ctx, wf); err != nil {
		t.Fatal(err)
	}
	run := &platform.Run{Namespace: platform.DefaultNamespace, Workflow: wf.Name, WorkflowID: wf.ID, Status: platform.RunQueued,
		Parameters: json.RawMessage(`{"n":0}`), Agents: []string{}, Steps: []*platform.StepRun{}, Definition: wf.Definition}
	if err := db.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	return run
}
