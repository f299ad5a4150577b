// Package bench holds the platform's benchmarks, run with `make bench`
// (go test -run '^$' -bench . ./bench/). They drive the real thing on
// loopback, on SQLite in a temporary directory and on PostgreSQL at
// TEST_POSTGRES_URL, so that their figures include everything a client
// would wait for: the HTTP stack, the middleware, JSON and the database.
//
//   - registry_test.go: registering and reading agents over the API.
//   - orchestrate_test.go: workflow steps per second the engine completes
//     through the store's River queue against no-op agents
//     (BenchmarkOrchestrate), beside River's own rate for no-op jobs on the
//     same databases and settings (BenchmarkRiverNoop).
//   - execute_test.go: the latency POST /api/v1/agents/{ref}/execute adds
//     to a call of an agent, beside what nginx as a reverse proxy adds and
//     what Go's standard reverse proxy adds (BenchmarkExecuteLatency), with
//     1 and with 8 clients. The agent runs
//     as a process of its own (the test binary started again with
//     OSSA_BENCH_AGENT set, which TestMain turns into the agent), and so do
//     nginx and the gateway (the ossa binary, built by the benchmark). nginx
//     must be on PATH, else the benchmark skips.
//   - events_test.go: live event fan-out (BenchmarkEventFanout): 1,000
//     WebSocket clients subscribed to agent-events on the gateway (the ossa
//     binary, a process of its own, with REDIS_URL set) while 1,000 events a
//     second are written to its database and published on its Redis
//     channel, as another replica would:
//     p50/p99/max delivery latency, beside a plain go-redis subscriber in
//     the same run, and the gateway's memory per idle connection (VmRSS and
//     Go heap+stacks). Every client must get every event, once and in
//     order. OSSA_BENCH_FANOUT_{CLIENTS,RATE,SECONDS,DRAIN,WARMUP} change
//     the load. It needs TEST_REDIS_URL, else it skips.
//
// OSSA_BENCH_PPROF=127.0.0.1:6061 builds the gateway of either benchmark
// with net/http/pprof serving there, to profile it under the load.
//
// Nothing here asserts a figure: benchmarks only fail when a request or a
// run does. The figures, with the commands and machines that produced
// them, are in docs/benchmarks.md. Plain `go test` runs no benchmark, so
// CI, which has no stable machine to measure on, never runs them.
package bench
