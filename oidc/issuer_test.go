package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/oidc"
)

// issuer is a real OpenID Connect issuer for tests: an HTTP server with a
// discovery document and a key set that tests change while verifiers
// run.
type issuer struct {
	srv *httptest.Server
	url string

	mu   sync.Mutex
	keys []jose.JSONWebKey // the published key set
	name string            // the issuer the document names; default url
	jwks string            // the raw key set to serve instead, when set

	down       atomic.Bool // every answer is 503
	discovered atomic.Int32 // discovery requests, answered or not
	fetched    atomic.Int32 // key set requests, answered or not
}

// newIssuer starts an issuer publishing the public halves of keys.
func newIssuer(t testing.TB, keys ...signer) *issuer {
	t.Helper()
	is := newUnstartedIssuer(t, keys...)
	is.srv.Start()
	return is
}

// newUnstartedIssuer is an issuer whose listener accepts connections it
// does not answer until is.srv.Start: an issuer that hangs.
func newUnstartedIssuer(t testing.TB, keys ...signer) *issuer {
	t.Helper()
	is := &issuer{}
	is.srv = httptest.NewUnstartedServer(http.HandlerFunc(is.serve))
	is.url = "http://" + is.srv.Listener.Addr().String()
	is.publish(keys...)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		is.discovered.Add(1)
	case "/keys":
		is.fetched.Add(1)
	}
	if is.down.Load() {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		name := is.name
		if name == "" {
			name = is.url
		}
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": name, "jwks_uri": is.url + "/keys",
			"authorization_endpoint": is.url + "/auth", "token_endpoint": is.url + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	case "/keys":
		if is.jwks != "" {
			w.Write([]byte(is.jwks))
			return
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: is.keys})
	default:
		http.NotFound(w, r)
	}
}

// publish replaces the key set with the public halves of keys.
func (is *issuer) publish(keys ...signer) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = nil
	for _, k := range keys {
		is.keys = append(is.keys, k.public())
	}
}

func (is *issuer) set(f func(*issuer)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	f(is)
}

// signer is a signing key with its key ID.
type signer struct {
	kid string
	alg jose.SignatureAlgorithm
	key any // *rsa.PrivateKey, *ecdsa.PrivateKey, or []byte for HS
	pub any
}

func newRSA(t testing.TB, kid string) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: jose.RS256, key: k, pub: &k.PublicKey}
}

func newEC(t testing.TB, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: jose.ES256, key: k, pub: &k.PublicKey}
}

func (s signer) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.pub, KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

// sign returns the compact JWS of claims.
func (s signer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), s.kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

const audience = "ossa-gateway"

// claims are those of a good token of is, changed by the pairs of kv
// (a nil value removes the claim).
func (is *issuer) claims(kv ...any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": is.url, "aud": audience, "sub": "user-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"ossa_namespace": "team-a", "scope": "openid agents:read runs:write email",
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// config is a verifier's configuration for is, fast for tests.
func (is *issuer) config() oidc.Config {
	return oidc.Config{Issuer: is.url, Audience: audience, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}
}

func newVerifier(t testing.TB, cfg oidc.Config) *oidc.Verifier {
	t.Helper()
	v, err := oidc.New(context.Background(), cfg, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantCode fails unless err is a platform error of code whose message
// holds every one of the fragments and not the token.
func wantCode(t *testing.T, err error, code, token string, fragments ...string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	msg := platform.ErrorMessage(err)
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message %q lacks %q", msg, f)
		}
	}
	if token != "" && (strings.Contains(msg, token) || strings.Contains(err.Error(), token)) {
		t.Errorf("the error repeats the token: %v", err)
	}
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Errorf("%v is no *platform.Error", err)
	}
}
