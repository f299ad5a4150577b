// Package bench holds the benchmarks whose figures docs/benchmarks.md
// reports. They run with `make bench`; the PostgreSQL halves need
// TEST_POSTGRES_URL. Nothing here is asserted by the ordinary tests.
package bench
