package http

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientKey checks who the rate limiter takes the client to be, behind
// trusted proxies (10.0.0.0/8 and ::1) and not.
func TestClientKey(t *testing.T) {
	t.Parallel()
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	tests := []struct {
		name, peer, realIP string
		xff                []string
		want               string
	}{
		{"direct client", "203.0.113.7:5100", "", nil, "203.0.113.7"},
		{"direct client's headers are ignored", "203.0.113.7:5100", "198.51.100.1", []string{"198.51.100.2"}, "203.0.113.7"},
		{"mapped IPv4 peer", "[::ffff:203.0.113.7]:5100", "", nil, "203.0.113.7"},
		{"IPv6 peer", "[2001:db8::7]:5100", "", nil, "2001:db8::7"},

		{"X-Real-IP from a trusted proxy", "10.0.0.2:4000", "203.0.113.7", nil, "203.0.113.7"},
		{"X-Real-IP over X-Forwarded-For", "10.0.0.2:4000", "203.0.113.7", []string{"198.51.100.2"}, "203.0.113.7"},
		{"X-Real-IP with a port", "10.0.0.2:4000", "203.0.113.7:5100", nil, "203.0.113.7"},
		{"IPv6 proxy", "[::1]:4000", "2001:db8::7", nil, "2001:db8::7"},
		{"trusted X-Real-IP: a proxy in front, X-Forwarded-For goes on", "10.0.0.2:4000", "10.0.0.1",
			[]string{"203.0.113.7, 10.0.0.1"}, "203.0.113.7"},
		{"trusted X-Real-IP and no X-Forwarded-For: the proxy in front", "10.0.0.2:4000", "10.0.0.1", nil, "10.0.0.1"},
		{"unreadable X-Real-IP: the proxy", "10.0.0.2:4000", "unknown", []string{"203.0.113.7"}, "10.0.0.2"},

		{"X-Forwarded-For's right-most hop", "10.0.0.2:4000", "", []string{"203.0.113.7"}, "203.0.113.7"},
		{"client-written hops left of the proxy's are ignored", "10.0.0.2:4000", "",
			[]string{"198.51.100.1, 198.51.100.2, 203.0.113.7"}, "203.0.113.7"},
		{"trusted hops are skipped", "10.0.0.3:4000", "", []string{"203.0.113.7, 10.0.0.1, 10.0.0.2"}, "203.0.113.7"},
		{"several header lines are one list", "10.0.0.3:4000", "", []string{"198.51.100.1, 203.0.113.7", "10.0.0.2"}, "203.0.113.7"},
		{"empty hops are skipped", "10.0.0.2:4000", "", []string{"203.0.113.7,, "}, "203.0.113.7"},
		{"an unreadable hop stops at the last trusted one", "10.0.0.3:4000", "", []string{"203.0.113.7, bogus, 10.0.0.2"}, "10.0.0.2"},
		{"unreadable right-most hop: the proxy", "10.0.0.2:4000", "", []string{"203.0.113.7, bogus"}, "10.0.0.2"},
		{"only trusted hops: the left-most of them", "10.0.0.3:4000", "", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"no headers: the proxy itself", "10.0.0.2:4000", "", nil, "10.0.0.2"},
		{"a hop with a port", "10.0.0.2:4000", "", []string{"[2001:db8::7]:5100"}, "2001:db8::7"},

		// A client that sends its own X-Forwarded-For and X-Real-IP
		// through a proxy that sets X-Real-IP and appends to
		// X-Forwarded-For, as docs/operations.md's nginx does.
		{"forged headers through the proxy", "10.0.0.2:4000", "203.0.113.7",
			[]string{"198.51.100.66, 203.0.113.7"}, "203.0.113.7"},
		{"forged headers through a proxy that only appends", "10.0.0.2:4000", "",
			[]string{"198.51.100.66, 10.0.0.9, 203.0.113.7"}, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/agents", nil)
			r.RemoteAddr = tt.peer
			if tt.realIP != "" {
				r.Header.Set("X-Real-IP", tt.realIP)
			}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientKey(r); got != tt.want {
				t.Fatalf("clientKey = %q, want %q", got, tt.want)
			}
		})
	}
}
