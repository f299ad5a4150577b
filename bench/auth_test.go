package bench

import (
	"net/http"
	"testing"
	"time"

	"github.com/ossa-platform/platform/ossatest"
)

// bearer adds an API key to every request.
type bearer struct {
	key  string
	next http.RoundTripper
}

func (t bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.key)
	return t.next.RoundTrip(r)
}

// BenchmarkGetAgentAuth measures GET /api/v1/agents/{id} with API keys
// (OSSA_AUTH=keys, the admin key) against
// the same with OSSA_AUTH=none, on the embedded store, in one run: the
// cost of authenticating each request (a cached key, a SHA-256 and a
// constant-time compare; the store is read once per key per 10 s).
func BenchmarkGetAgentAuth(b *testing.B) {
	for _, mode := range []string{"none", "keys"} {
		b.Run(mode, func(b *testing.B) {
			opts := []ossatest.Option{ossatest.WithStore(ossatest.SQLite(b))}
			if mode == "keys" {
				opts = append(opts, ossatest.WithAuth())
			}
			p := ossatest.Start(b, opts...)
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
			var rt http.RoundTripper = t
			if p.AdminKey != "" {
				rt = bearer{key: p.AdminKey, next: t}
			}
			client := &http.Client{Transport: rt, Timeout: 30 * time.Second}
			b.Cleanup(client.CloseIdleConnections)
			getAgents(b, client, p.URL, seed(b, client, p.URL))
		})
	}
}
