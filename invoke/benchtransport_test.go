//go:build ossabench

package invoke

import (
	"net/http"
	"testing"
)

// The benchmark's build picks the transport New uses by
// OSSA_BENCH_TRANSPORT, so that its figures are of the transport named.
func TestBenchTransportPicksTransport(t *testing.T) {
	for env, want := range map[string]string{"handwritten": "*invoke.transport", "nethttp": "*http.Transport", "": "*invoke.transport"} {
		t.Setenv("OSSA_BENCH_TRANSPORT", env)
		var got string
		switch New().HTTP.Transport.(type) {
		case *transport:
			got = "*invoke.transport"
		case *http.Transport:
			got = "*http.Transport"
		}
		if got != want {
			t.Errorf("OSSA_BENCH_TRANSPORT=%q: transport %s, want %s", env, got, want)
		}
	}
}
