package http_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/internal/testenv"
)

// httpsClient trusts ca alone, and opens a new connection per request,
// so that each request sees the certificate served at that moment.
func httpsClient(ca *testenv.CA, tweak ...func(*tls.Config)) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool}
	for _, fn := range tweak {
		fn(cfg)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// TestTLS: with certificate files the gateway serves HTTPS, TLS 1.2 or
// later, on its https:// URL, to clients that trust its authority, with
// Strict-Transport-Security and the other security headers.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, "gateway", certFile, keyFile)
	certs, err := ohttp.LoadCertFiles(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, func(s *ohttp.Server) { s.TLS, s.HSTS = certs.TLSConfig(), true })
	if !strings.HasPrefix(g.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", g.URL())
	}

	resp, err := httpsClient(ca).Get(g.URL() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 ||
		resp.TLS.PeerCertificates[0].Subject.CommonName != "gateway" {
		t.Fatalf("https: %d %+v %s", resp.StatusCode, resp.TLS, b)
	}
	for header, want := range map[string]string{
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
		"Content-Security-Policy":   "default-src 'self'",
		"X-Content-Type-Options":    "nosniff",
	} {
		if got := resp.Header.Get(header); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}

	// TLS 1.1 and below are refused, though the configuration asks for none.
	_, err = httpsClient(ca, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }).Get(g.URL() + "/healthz")
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("a TLS 1.1 client: %v", err)
	}
	// A client that does not trust the authority refuses the gateway.
	_, err = (&http.Client{Transport: &http.Transport{}}).Get(g.URL() + "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("a client without the authority: %v", err)
	}
	// Plain HTTP to the HTTPS port gets no API.
	resp, err = http.Get("http" + strings.TrimPrefix(g.URL(), "https") + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the HTTPS port: %d", resp.StatusCode)
		}
	}
}

// TestSecurityHeadersHSTS: Strict-Transport-Security is sent only when
// the gateway is told clients reach it over HTTPS (Server.HSTS); the
// other headers always.
func TestSecurityHeadersHSTS(t *testing.T) {
	t.Parallel()
	for _, hsts := range []bool{false, true} {
		g := newGateway(t, func(s *ohttp.Server) { s.HSTS = hsts })
		resp, _ := g.do(t, "GET", "/api/v1/agents", "", nil)
		if got := resp.Header.Get("Strict-Transport-Security"); (got != "") != hsts {
			t.Errorf("HSTS %v: Strict-Transport-Security = %q", hsts, got)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("HSTS %v: X-Frame-Options = %q", hsts, resp.Header.Get("X-Frame-Options"))
		}
	}
}

// TestCertFilesReload: renewed files are served within about a second,
// without a restart; a pair that does not load is logged once and the
// last good one served meanwhile.
func TestCertFilesReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, "first", certFile, keyFile)
	logs := &lockedBuffer{}
	certs, err := ohttp.LoadCertFiles(certFile, keyFile, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, func(s *ohttp.Server) { s.TLS = certs.TLSConfig() })
	served := func() string {
		t.Helper()
		resp, err := httpsClient(ca).Get(g.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			got := served()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("served %q 5 s after the files changed, want %q:\n%s", got, want, logs)
			}
		}
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q", got)
	}

	ca.Issue(t, "second", certFile, keyFile)
	waitFor("second")
	if !strings.Contains(logs.String(), "TLS certificate reloaded") || certs.Leaf().Subject.CommonName != "second" {
		t.Fatalf("reload not logged, or Leaf not the new one:\n%s", logs)
	}

	// A new certificate whose key is not there yet: the one before stays.
	other := t.TempDir()
	ca.Issue(t, "third", certFile, filepath.Join(other, "tls.key"))
	time.Sleep(1200 * time.Millisecond)
	for range 3 {
		if got := served(); got != "second" {
			t.Fatalf("served %q with a certificate whose key is not its own", got)
		}
	}
	if n := strings.Count(logs.String(), "does not load"); n != 1 {
		t.Fatalf("the broken pair was logged %d times, want once:\n%s", n, logs)
	}
	// Its key arrives: served.
	key, err := os.ReadFile(filepath.Join(other, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("third")
}

// TestLoadCertFilesErrors: a pair that does not load is refused at once,
// saying which file and why.
func TestLoadCertFilesErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, "gateway", certFile, keyFile)
	otherKey := filepath.Join(dir, "other.key")
	ca.Issue(t, "other", filepath.Join(dir, "other.crt"), otherKey)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cert, key, want string }{
		{filepath.Join(dir, "missing.crt"), keyFile, "missing.crt: no such file"},
		{certFile, filepath.Join(dir, "missing.key"), "missing.key: no such file"},
		{notPEM, keyFile, "failed to find any PEM data in certificate input"},
		{certFile, notPEM, "failed to find any PEM data in key input"},
		{certFile, otherKey, "private key does not match public key"},
	} {
		_, err := ohttp.LoadCertFiles(tc.cert, tc.key, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadCertFiles(%s, %s) = %v, want %q", filepath.Base(tc.cert), filepath.Base(tc.key), err, tc.want)
		}
	}
}
