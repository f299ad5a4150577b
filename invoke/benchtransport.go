//go:build ossabench

package invoke

import "os"

// The benchmark's build (go test -tags ossabench, and the gateway it
// builds with the same tag) picks the agent transport by
// OSSA_BENCH_TRANSPORT, read by each New: "nethttp" for net/http's
// Transport, anything else for transport.go's. See bench/transport_test.go.
func init() {
	benchTransport = func() string { return os.Getenv("OSSA_BENCH_TRANSPORT") }
}
