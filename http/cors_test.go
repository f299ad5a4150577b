package http_test

import (
	"net/http"
	"testing"

	ohttp "github.com/ossa-platform/platform/http"
)

// TestCORSWildcard checks that CORS_ORIGIN=* lets any origin call without
// credentials: "*", never the origin named back with
// Access-Control-Allow-Credentials, which would let any site send requests
// that carry the user's cookies; listed origins keep their credentials.
func TestCORSWildcard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, origin string
		origins      []string
		allow, creds string
	}{
		{"wildcard", "https://evil.example", []string{"*"}, "*", ""},
		{"wildcard beside a listed origin, another origin", "https://evil.example", []string{"https://ui.example", "*"}, "*", ""},
		{"wildcard beside a listed origin, the listed one", "https://ui.example", []string{"https://ui.example", "*"}, "https://ui.example", "true"},
		{"listed", "https://ui.example", []string{"https://ui.example"}, "https://ui.example", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, func(s *ohttp.Server) { s.CORSOrigins = tt.origins })
			for _, req := range []struct {
				method  string
				headers []string
				status  int
			}{
				{"GET", []string{"Origin", tt.origin}, http.StatusOK},
				{"OPTIONS", []string{"Origin", tt.origin, "Access-Control-Request-Method", "POST",
					"Access-Control-Request-Headers", "content-type"}, http.StatusNoContent},
			} {
				resp, b := g.do(t, req.method, "/api/v1/agents", "", nil, req.headers...)
				if resp.StatusCode != req.status {
					t.Fatalf("%s: %d %s", req.method, resp.StatusCode, b)
				}
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.allow {
					t.Errorf("%s: Access-Control-Allow-Origin = %q, want %q", req.method, got, tt.allow)
				}
				if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != tt.creds {
					t.Errorf("%s: Access-Control-Allow-Credentials = %q, want %q", req.method, got, tt.creds)
				}
			}
		})
	}
}
