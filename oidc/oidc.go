package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/ossa-platform/platform"
)

// MaxTokenBytes bounds the tokens Verify looks at; a longer one is
// refused unread.
const MaxTokenBytes = 64 << 10

// Verifier checks bearer tokens against one issuer and makes their
// principals. It is safe for concurrent use.
type Verifier struct {
	cfg       Config
	discovery *http.Client // discovery's, its answers bounded
	keys      *http.Client // the key set's, through gate
	gate      *keyGate

	ready atomic.Pointer[gooidc.IDTokenVerifier] // set once discovered

	mu      sync.Mutex
	attempt chan struct{} // closed when the running discovery ends; nil while none runs
	lastErr error         // why the last discovery failed
	next    time.Time     // the earliest next discovery
	backoff time.Duration // the wait after the last failure
}

// errPermanent marks a discovery failure that waiting will not mend: the
// issuer answered, but not as Config says it should.
var errPermanent = errors.New("the issuer's discovery document does not fit the configuration")

// New returns a Verifier for cfg, fetching client (nil: a client with a
// 10 s timeout; one without a timeout gets that one) for the issuer's
// discovery document and key set. It waits up to cfg.StartWait (and ctx)
// for the first discovery: an issuer that answers with a document that
// contradicts cfg (another issuer's name, no or an insecure jwks_uri) is
// an error, as is an invalid cfg (EINVALID); one that cannot be reached is
// not, so that the gateway starts while its issuer is down: the Verifier
// tries again when asked to verify (waiting at least cfg.RetryMin, then
// twice as long after each failure up to cfg.RetryMax) and answers
// EUNAVAILABLE meanwhile.
func New(ctx context.Context, cfg Config, client *http.Client) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// Key set fetches run in go-oidc's background, on no context of ours:
	// only the client's timeout ends one.
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	v := &Verifier{cfg: cfg, gate: &keyGate{base: base, interval: cfg.KeyRefreshInterval}}
	v.discovery = &http.Client{Transport: limitBody{base}, Timeout: timeout, CheckRedirect: client.CheckRedirect, Jar: client.Jar}
	v.keys = &http.Client{Transport: v.gate, Timeout: timeout, CheckRedirect: client.CheckRedirect, Jar: client.Jar}
	wait, cancel := context.WithTimeout(ctx, cfg.StartWait)
	defer cancel()
	if _, err := v.verifier(wait); err != nil {
		v.mu.Lock()
		last := v.lastErr
		v.mu.Unlock()
		if errors.Is(last, errPermanent) {
			return nil, fmt.Errorf("OpenID Connect discovery of %s: %w", cfg.Issuer, last)
		}
	}
	return v, nil
}

// Issuer returns the issuer's URL.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Verify checks rawToken, a compact JWS without its "Bearer " prefix, and
// returns its principal (Kind platform.PrincipalOIDC, Subject the issuer
// and the sub claim joined by "#", the namespaces and scopes of
// Config.Claims). A token that is malformed, unsigned or signed with an
// algorithm not accepted, not signed by one of the issuer's keys, expired
// or not yet valid, of another issuer or audience, or whose claims make no
// principal is EUNAUTHORIZED with a message that says why and never
// repeats the token; while the issuer or its keys cannot be reached,
// EUNAVAILABLE.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*platform.Principal, error) {
	switch {
	case rawToken == "":
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "no token")
	case len(rawToken) > MaxTokenBytes:
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token is over %d KiB", MaxTokenBytes>>10)
	}
	h, err := parseHeader(rawToken)
	if err != nil {
		return nil, err
	}
	if err := v.checkAlg(h.Alg); err != nil {
		return nil, err
	}
	idv, err := v.verifier(ctx)
	if err != nil {
		return nil, err
	}
	var vr verification
	tok, err := idv.Verify(context.WithValue(ctx, verificationKey{}, &vr), rawToken)
	if err != nil {
		return nil, v.refusal(&vr, err)
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token's payload is not a JSON object")
	}
	return v.cfg.Claims.MapClaims(tok.Issuer, payload)
}

func (v *Verifier) checkAlg(alg string) error {
	switch {
	case strings.EqualFold(alg, "none"):
		return platform.Errorf(platform.EUNAUTHORIZED, "the token is unsigned (alg none), which is never accepted")
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		return platform.Errorf(platform.EUNAUTHORIZED, "the token is signed with a shared secret (%s), which is never accepted: an issuer signs with its private key", clip(alg))
	}
	for _, a := range v.cfg.Algorithms {
		if a == alg {
			return nil
		}
	}
	return platform.Errorf(platform.EUNAUTHORIZED, "the token is signed with %s; accepted: %s", clip(alg), strings.Join(v.cfg.Algorithms, ", "))
}

// clip keeps a header value fit to be named in a message.
func clip(s string) string {
	if len(s) > 16 {
		return fmt.Sprintf("%q...", s[:16])
	}
	return fmt.Sprintf("%q", s)
}

// refusal says why go-oidc refused a token, from what the key set saw of
// it (vr) and, once its signature verified, from its claims.
func (v *Verifier) refusal(vr *verification, err error) error {
	switch {
	case !vr.called:
		// go-jose refused to parse it, before any key was looked for.
		return platform.Errorf(platform.EUNAUTHORIZED, "the token is malformed: not a compact JWS with one signature")
	case vr.err != nil && errors.Is(vr.err, errThrottled):
		if ok, cause := v.gate.state(); !ok {
			return unavailable("the OpenID Connect issuer's keys cannot be fetched to check the token; try again later", cause)
		}
		return platform.Errorf(platform.EUNAUTHORIZED, "the token is not signed by any of the issuer's keys (a key new to the gateway is looked for at most every %s)", v.cfg.KeyRefreshInterval)
	case vr.err != nil && fetchFailed(vr.err):
		return unavailable("the OpenID Connect issuer's keys cannot be fetched to check the token; try again later", vr.err)
	case vr.err != nil:
		return platform.Errorf(platform.EUNAUTHORIZED, "the token is not signed by any of the issuer's keys")
	}
	return v.claimsRefusal(vr.payload, err)
}

// claimsRefusal says which of the checks go-oidc makes after the
// signature (issuer, audience, expiry, not-before, in its order) the
// verified payload fails.
func (v *Verifier) claimsRefusal(payload []byte, err error) error {
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp *json.Number    `json:"exp"`
		Nbf *json.Number    `json:"nbf"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return platform.Errorf(platform.EUNAUTHORIZED, "the token's payload is not a JSON object with the registered claims (iss, aud, exp) of their types")
	}
	if c.Iss != v.cfg.Issuer {
		return platform.Errorf(platform.EUNAUTHORIZED, "the token was issued by another issuer than this gateway's")
	}
	var one string
	var many []string
	if json.Unmarshal(c.Aud, &one) == nil {
		many = []string{one}
	} else {
		_ = json.Unmarshal(c.Aud, &many)
	}
	found := false
	for _, a := range many {
		found = found || a == v.cfg.Audience
	}
	if !found {
		return platform.Errorf(platform.EUNAUTHORIZED, "the token's audience (aud) does not include %q", v.cfg.Audience)
	}
	if c.Exp == nil {
		return platform.Errorf(platform.EUNAUTHORIZED, "the token has no expiry (exp)")
	}
	var expired *gooidc.TokenExpiredError
	if errors.As(err, &expired) {
		return platform.Errorf(platform.EUNAUTHORIZED, "the token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
	}
	if c.Nbf != nil {
		if f, ferr := c.Nbf.Float64(); ferr == nil && time.Unix(int64(f), 0).After(time.Now()) {
			return platform.Errorf(platform.EUNAUTHORIZED, "the token is not valid before %s (nbf)", time.Unix(int64(f), 0).UTC().Format(time.RFC3339))
		}
	}
	return platform.Errorf(platform.EUNAUTHORIZED, "the token's registered claims (iss, aud, exp, nbf) are not valid")
}

// Ping reports whether tokens can be checked now: EUNAVAILABLE while the
// issuer has not been discovered (trying again if the wait since the last
// failure is over) or the last fetch of its keys failed, else nil. It
// asks the issuer nothing once discovered, so that /health may call it on
// every probe.
func (v *Verifier) Ping(ctx context.Context) error {
	if _, err := v.verifier(ctx); err != nil {
		return err
	}
	if _, cause := v.gate.state(); cause != nil {
		return unavailable("the OpenID Connect issuer's keys could not be fetched the last time they were needed", cause)
	}
	return nil
}

// verifier returns go-oidc's verifier once the issuer is discovered,
// discovering it when no attempt runs and the wait since the last failure
// is over, or waiting for the attempt that runs (until ctx ends).
func (v *Verifier) verifier(ctx context.Context) (*gooidc.IDTokenVerifier, error) {
	if idv := v.ready.Load(); idv != nil {
		return idv, nil
	}
	v.mu.Lock()
	if idv := v.ready.Load(); idv != nil {
		v.mu.Unlock()
		return idv, nil
	}
	done := v.attempt
	if done == nil {
		if time.Now().Before(v.next) {
			err := v.unavailableLocked()
			v.mu.Unlock()
			return nil, err
		}
		done = make(chan struct{})
		v.attempt = done
		go v.discover(done)
	}
	v.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, unavailable("the OpenID Connect issuer is still being discovered; try again later", ctx.Err())
	}
	if idv := v.ready.Load(); idv != nil {
		return idv, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return nil, v.unavailableLocked()
}

func (v *Verifier) unavailableLocked() error {
	return unavailable(fmt.Sprintf("the OpenID Connect issuer cannot be reached to check the token; next attempt in %s",
		max(time.Until(v.next), 0).Round(time.Millisecond)), v.lastErr)
}

// discover runs one attempt at discovery, in the background of the
// callers waiting on done.
func (v *Verifier) discover(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.DiscoveryTimeout)
	defer cancel()
	idv, err := v.discoverOnce(ctx)
	v.mu.Lock()
	if err == nil {
		v.ready.Store(idv)
		v.lastErr = nil
		v.cfg.Logger.Info("OpenID Connect issuer discovered", "issuer", v.cfg.Issuer)
	} else {
		v.lastErr = err
		v.backoff = min(max(2*v.backoff, v.cfg.RetryMin), v.cfg.RetryMax)
		v.next = time.Now().Add(v.backoff)
		v.cfg.Logger.Warn("OpenID Connect discovery failed: tokens are refused with 503 until it succeeds",
			"issuer", v.cfg.Issuer, "error", err.Error(), "retry_in", v.backoff.String())
	}
	v.attempt = nil
	v.mu.Unlock()
	close(done)
}

func (v *Verifier) discoverOnce(ctx context.Context) (*gooidc.IDTokenVerifier, error) {
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, v.discovery), v.cfg.Issuer)
	if err != nil {
		var mismatch *gooidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("%w: it names itself %q, not %q (OSSA_OIDC_ISSUER must match it exactly, trailing slash included)",
				errPermanent, mismatch.Discovered, mismatch.Provided)
		}
		return nil, err
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		return nil, fmt.Errorf("%w: it names no jwks_uri", errPermanent)
	}
	if err := CheckIssuer(meta.JWKSURL); err != nil {
		return nil, fmt.Errorf("%w: its jwks_uri %s %w", errPermanent, meta.JWKSURL, err)
	}
	keys := gooidc.NewRemoteKeySet(gooidc.ClientContext(context.Background(), v.keys), meta.JWKSURL)
	return gooidc.NewVerifier(v.cfg.Issuer, keySet{keys, v.gate}, &gooidc.Config{
		ClientID:             v.cfg.Audience,
		SupportedSigningAlgs: v.cfg.Algorithms,
	}), nil
}

// unavailable is an EUNAVAILABLE error whose message is msg and whose
// text, for logs, adds cause.
func unavailable(msg string, cause error) error {
	e := platform.Errorf(platform.EUNAVAILABLE, "%s", msg)
	if cause == nil {
		return e
	}
	return fmt.Errorf("%w (%w)", e, cause)
}
