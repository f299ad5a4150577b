package http

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertFiles serves a certificate and its key from PEM files, the way
// OSSA_TLS_CERT and OSSA_TLS_KEY name them, and takes up new ones when
// the files change: each handshake looks at the files at most once a
// second, and on a change loads the pair again. A pair that does not load
// (the certificate renewed but its key not yet, say) is logged, and the
// last good one is served until the pair loads; no restart or SIGHUP is
// needed to rotate a certificate.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	loaded    [2]fileStamp // of the pair being served
	failed    [2]fileStamp // of the last pair that did not load, logged once
	nextCheck time.Time
}

// fileStamp tells a file's versions apart.
type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadCertFiles loads the pair, or says why not: a missing or unreadable
// file, no PEM in it, a key that is not the certificate's. logger gets a
// line at every reload; slog.Default() when nil.
func LoadCertFiles(certFile, keyFile string, logger *slog.Logger) (*CertFiles, error) {
	if logger == nil {
		logger = slog.Default()
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: logger, now: time.Now}
	stamps, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.loaded = cert, stamps
	return c, nil
}

// Leaf is the certificate being served.
func (c *CertFiles) Leaf() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert.Leaf
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Before(c.nextCheck) {
		return c.cert, nil
	}
	c.nextCheck = now.Add(time.Second)
	stamps, err := c.stamps()
	if err != nil || stamps == c.loaded || stamps == c.failed {
		// A file gone for a moment (being replaced) leaves the pair as is.
		return c.cert, nil
	}
	cert, err := c.load()
	if err != nil {
		c.failed = stamps
		c.log.Warn("the changed TLS certificate or key does not load; serving the one loaded before until it does",
			"cert", c.certFile, "key", c.keyFile, "error", err.Error())
		return c.cert, nil
	}
	c.cert, c.loaded, c.failed = cert, stamps, [2]fileStamp{}
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "subject", cert.Leaf.Subject.String(),
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return c.cert, nil
}

func (c *CertFiles) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

func (c *CertFiles) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return nil, err
		}
		return nil, fmt.Errorf("%s and %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", c.certFile, err)
		}
	}
	return &cert, nil
}

// TLSConfig is the configuration the gateway serves HTTPS with: TLS 1.2
// or later, Go's defaults otherwise (its cipher suites, curves and
// HTTP/2), the certificate from c.
func (c *CertFiles) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}
