package serve_test

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform/cmd/ossa/serve"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
)

// TestHSTS: Strict-Transport-Security is sent by default only when the
// gateway serves TLS itself; OSSA_HSTS=on sends it over plain HTTP too
// (for a proxy that terminates TLS in front), off never.
func TestHSTS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, "gateway", certFile, keyFile)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		tls  bool
		hsts string
		want bool
	}{
		{false, "auto", false},
		{true, "auto", true},
		{false, "on", true},
		{true, "off", false},
	} {
		p := ossatest.Start(t, ossatest.WithConfig(func(c *serve.Config) {
			c.HSTS = tc.hsts
			if tc.tls {
				c.TLSCert, c.TLSKey = certFile, keyFile
			}
		}))
		if strings.HasPrefix(p.URL, "https://") != tc.tls {
			t.Fatalf("TLS %v: URL %s", tc.tls, p.URL)
		}
		resp, err := client.Get(p.URL + "/api/v1/agents")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); (got != "") != tc.want || resp.StatusCode != http.StatusOK {
			t.Errorf("TLS %v, OSSA_HSTS=%s: %d, Strict-Transport-Security %q, want it %v", tc.tls, tc.hsts, resp.StatusCode, got, tc.want)
		}
	}
}
