// Package bench holds the platform's benchmarks, run with `make bench`
// (go test -run '^$' -bench . ./bench/). They drive a real gateway over
// HTTP on loopback, on SQLite in a temporary directory and on PostgreSQL
// at TEST_POSTGRES_URL, so that their figures include everything a client
// would wait for: the HTTP stack, the middleware, JSON and the database.
//
// Nothing here asserts a figure: benchmarks only fail when a request does.
// The figures, with the commands and machines that produced them, are in
// docs/benchmarks.md. Plain `go test` runs no benchmark, so CI, which has
// no stable machine to measure on, never runs them.
package bench
