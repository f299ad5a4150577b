package bench

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"testing"

	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/internal/gatewaytest"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/postgres"
	"github.com/ossa-platform/platform/queue"
)

func BenchmarkZZExperiment(b *testing.B) {
	for _, wf := range workflows {
		b.Run(wf.name, func(b *testing.B) {
			db := gatewaytest.SQLite(b)
			idle, _ := strconv.Atoi(os.Getenv("IDLE"))
			open, _ := strconv.Atoi(os.Getenv("OPEN"))
			if idle != 0 {
				db.SQL().SetMaxIdleConns(idle)
			}
			if open != 0 {
				db.SQL().SetMaxOpenConns(open)
			}
			noopAgent(b, db)
			eng := gatewaytest.Engine(db, engine.Config{})
			b.Cleanup(func() { eng.Close() })
			submit(b, eng, db, wf.spec, b.N)
			b.ResetTimer()
			if err := db.StartQueue(context.Background(), queue.Config{Executor: eng, Workers: runWorkers, ReapEvery: reapEvery}); err != nil {
				b.Fatal(err)
			}
			eng.Start()
			waitIdle(b, db)
			b.StopTimer()
			checkSucceeded(b, db)
			b.ReportMetric(float64(b.N*wf.steps)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

func tmpKnob(db interface{ SQL() *sql.DB }) {
	if v, _ := strconv.Atoi(os.Getenv("IDLE")); v != 0 {
		db.SQL().SetMaxIdleConns(v)
	}
}

func BenchmarkZZPG(b *testing.B) {
	for _, wf := range workflows {
		b.Run(wf.name, func(b *testing.B) {
			url, schema, _ := testenv.PostgresSchema(b)
			mc, _ := strconv.Atoi(os.Getenv("MAXCONNS"))
			db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema, MaxConns: int32(mc)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(db.Close)
			noopAgent(b, db)
			eng := gatewaytest.Engine(db, engine.Config{})
			b.Cleanup(func() { eng.Close() })
			submit(b, eng, db, wf.spec, b.N)
			b.ResetTimer()
			w, _ := strconv.Atoi(os.Getenv("WORKERS"))
			if err := db.StartQueue(context.Background(), queue.Config{Executor: eng, Workers: max(w, runWorkers), ReapEvery: reapEvery}); err != nil {
				b.Fatal(err)
			}
			eng.Start()
			waitIdle(b, db)
			b.StopTimer()
			checkSucceeded(b, db)
			b.ReportMetric(float64(b.N*wf.steps)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}
