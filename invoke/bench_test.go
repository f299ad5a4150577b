package invoke_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/invoke"
)

// BenchmarkInvokeHTTP measures the gateway's side of a call: encoding,
// one loopback round trip and decoding, against an agent that answers at
// once. conns reports the connections opened in all, which stays at about
// the number of parallel callers when the pool reuses them.
func BenchmarkInvokeHTTP(b *testing.B) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"output":{"ok":true}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	b.Cleanup(srv.Close)
	a := &platform.Agent{Name: "noop", Endpoint: srv.URL}
	c := invoke.New()
	inv := testInvocation()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Invoke(b.Context(), a, inv); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(conns.Load()), "conns")
}
