package invoke

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// BenchmarkInvokeTLS measures calls to an https agent that offers HTTP/2,
// in this process, over the transport New sets, which speaks HTTP/1.1 only
// (http1), and over the same with HTTP/2 allowed (http2), from 8
// goroutines: wall time and this process's CPU (client and agent) per
// call, and the connections opened. docs/benchmarks.md has the figures
// that keep HTTP/2 off.
func BenchmarkInvokeTLS(b *testing.B) {
	for _, proto := range []string{"http1", "http2"} {
		b.Run(proto, func(b *testing.B) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"output":{"ok":true}}`)
			}))
			srv.EnableHTTP2 = true
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.StartTLS()
			b.Cleanup(srv.Close)
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			tr := newTransport(newDialer(nil), IdleConnTimeout)
			tr.TLSClientConfig = &tls.Config{RootCAs: roots}
			if proto == "http2" {
				tr.Protocols.SetHTTP2(true)
			}
			b.Cleanup(tr.CloseIdleConnections)
			c := &Client{HTTP: &http.Client{Transport: tr}}
			a := &platform.Agent{Name: "noop", Endpoint: srv.URL}
			inv := &platform.Invocation{TaskID: "t", IdempotencyKey: "k"}
			if _, err := c.Invoke(b.Context(), a, inv); err != nil {
				b.Fatal(err)
			}
			var ru0 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Invoke(b.Context(), a, inv); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/op")
			b.ReportMetric(float64(conns.Load()), "conns")
		})
	}
}
