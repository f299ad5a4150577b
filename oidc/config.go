package oidc

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

// Config is what a Verifier checks tokens against and how it maps them.
type Config struct {
	// Issuer is the issuer's URL, exactly as its tokens' iss claim and its
	// discovery document name it (a trailing slash matters): an https://
	// URL, or http:// on a loopback address for development. Required.
	Issuer string
	// Audience is the value the tokens' aud claim must contain: the
	// gateway's API identifier or client ID at the issuer. Required.
	Audience string
	// Algorithms are the signature algorithms accepted. Default RS256
	// and ES256; never none or an HS algorithm (CheckAlgorithms).
	Algorithms []string
	// Claims maps a token's claims to its principal.
	Claims Mapping
	// Logger receives the discovery's failures and successes. Default:
	// none.
	Logger *slog.Logger

	// KeyRefreshInterval is the least time between two fetches of the
	// issuer's keys (JWKS). The keys are fetched when a token names a key
	// ID not among them (a rotation); within this time of the last fetch
	// such a token is refused without asking the issuer, so that tokens
	// with made-up key IDs cannot make the gateway hammer it. Default 5s.
	KeyRefreshInterval time.Duration
	// RetryMin and RetryMax bound the wait between two attempts at
	// discovery while the issuer cannot be reached: it starts at RetryMin
	// and doubles up to RetryMax. Defaults 1s and 1m.
	RetryMin, RetryMax time.Duration
	// DiscoveryTimeout limits one attempt at discovery. Default 10s.
	DiscoveryTimeout time.Duration
	// StartWait is how long New waits for the first discovery before it
	// returns a Verifier that keeps trying. Default 5s.
	StartWait time.Duration
}

// DefaultAlgorithms are the algorithms accepted when Config.Algorithms is
// empty: RSA and ECDSA on P-256 with SHA-256, which every common issuer
// signs with.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// algorithms are the asymmetric algorithms that can be accepted, those of
// go-oidc.
var algorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// CheckAlgorithms reports whether every one of algs may be accepted:
// those signed with an issuer's private key. none (unsigned) and the HS
// algorithms (a shared secret, which an OpenID Connect issuer does not
// publish; a verifier that allowed them could be handed a token "signed"
// with the issuer's public key as the secret) never may.
func CheckAlgorithms(algs []string) error {
	for _, a := range algs {
		switch {
		case strings.EqualFold(a, "none"):
			return fmt.Errorf("alg none (unsigned tokens) is never accepted")
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			return fmt.Errorf("%s is never accepted: HS algorithms use a shared secret, which an OpenID Connect issuer does not publish", a)
		case !slices.Contains(algorithms, a):
			return fmt.Errorf("unknown algorithm %q: want some of %s", a, strings.Join(algorithms, ", "))
		}
	}
	return nil
}

// CheckIssuer reports whether u can be an issuer: an absolute https:// URL
// without query or fragment, or an http:// one on a loopback host
// (localhost, 127.0.0.0/8, ::1), as keys fetched over plain HTTP from
// elsewhere could be anyone's.
func CheckIssuer(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return fmt.Errorf("must be an https:// URL without user, query or fragment")
	}
	switch p.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(p.Hostname()) {
			return nil
		}
		return fmt.Errorf("must be https:// (http:// only on a loopback address, for development)")
	}
	return fmt.Errorf("must be an https:// URL")
}

func loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withDefaults returns c with the defaults of its empty fields.
func (c Config) withDefaults() Config {
	if len(c.Algorithms) == 0 {
		c.Algorithms = slices.Clone(DefaultAlgorithms)
	}
	c.Claims = c.Claims.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.KeyRefreshInterval, 5*time.Second)
	def(&c.RetryMin, time.Second)
	def(&c.RetryMax, time.Minute)
	def(&c.DiscoveryTimeout, 10*time.Second)
	def(&c.StartWait, 5*time.Second)
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	return c
}

// validate reports every problem of c, which has its defaults.
func (c Config) validate() error {
	var pr platform.Problems
	if c.Issuer == "" {
		pr.Add("issuer", "is required")
	} else if err := CheckIssuer(c.Issuer); err != nil {
		pr.Add("issuer", "%v", err)
	}
	if c.Audience == "" {
		pr.Add("audience", "is required")
	}
	if err := CheckAlgorithms(c.Algorithms); err != nil {
		pr.Add("algorithms", "%v", err)
	}
	for i, s := range c.Claims.DefaultScopes {
		if !s.Valid() {
			pr.Add(fmt.Sprintf("claims/default_scopes/%d", i), "must be one of %s, not %q", platform.QuoteList(platform.AllScopes), s)
		}
	}
	if c.Claims.NamespaceClaim == c.Claims.ScopesClaim {
		pr.Add("claims/namespace_claim", "must differ from the scopes claim %q", c.Claims.ScopesClaim)
	}
	return pr.Err("the OpenID Connect configuration is not valid")
}
