// Package oidctest is a real OpenID Connect issuer for tests: an HTTP
// server with a discovery document and a key set (JWKS) the test changes
// while verifiers run, and keys that sign tokens with go-jose.
//
//	key := oidctest.NewRSA(t, "k1")
//	is := oidctest.Start(t, key)
//	token := key.Sign(t, is.Claims("ossa_namespace", "team-a"))
//	// OSSA_OIDC_ISSUER=is.URL, OSSA_OIDC_AUDIENCE=oidctest.Audience
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Audience is the aud of the tokens Claims makes.
const Audience = "ossa-gateway"

// Issuer is a running issuer.
type Issuer struct {
	// Server is the HTTP server; an issuer made by NewUnstarted answers
	// once Server.Start is called.
	Server *httptest.Server
	// URL is the issuer's URL: its name in the discovery document and in
	// the tokens of Claims.
	URL string

	mu   sync.Mutex
	keys []jose.JSONWebKey
	name string
	jwks string

	// Down makes every answer a 503 while set.
	Down atomic.Bool
	// Discovered and Fetched count the requests for the discovery
	// document and the key set, answered or not.
	Discovered, Fetched atomic.Int32
}

// Start starts an issuer publishing the public halves of keys; it stops
// when the test ends.
func Start(t testing.TB, keys ...*Key) *Issuer {
	t.Helper()
	is := NewUnstarted(t, keys...)
	is.Server.Start()
	return is
}

// NewUnstarted is an issuer whose listener accepts connections it does
// not answer until is.Server.Start: an issuer that hangs.
func NewUnstarted(t testing.TB, keys ...*Key) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.Server = httptest.NewUnstartedServer(http.HandlerFunc(is.serve))
	is.URL = "http://" + is.Server.Listener.Addr().String()
	is.Publish(keys...)
	t.Cleanup(is.Server.Close)
	return is
}

func (is *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		is.Discovered.Add(1)
	case "/keys":
		is.Fetched.Add(1)
	}
	if is.Down.Load() {
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
			name = is.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": name, "jwks_uri": is.URL + "/keys",
			"authorization_endpoint": is.URL + "/auth", "token_endpoint": is.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	case "/keys":
		if is.jwks != "" {
			w.Write([]byte(is.jwks))
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: is.keys})
	default:
		http.NotFound(w, r)
	}
}

// Publish replaces the key set with the public halves of keys.
func (is *Issuer) Publish(keys ...*Key) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys, is.jwks = nil, ""
	for _, k := range keys {
		is.keys = append(is.keys, k.Public())
	}
}

// ServeKeySet serves raw as the key set instead of the published keys,
// until the next Publish.
func (is *Issuer) ServeKeySet(raw string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.jwks = raw
}

// Rename makes the discovery document name the issuer name instead of
// its URL ("": its URL).
func (is *Issuer) Rename(name string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.name = name
}

// Claims are those of a good token of is, for Audience, of subject
// user-1 in namespace team-a (ossa_namespace) with the scopes agents:read
// and runs:write among others, valid for an hour; the pairs of kv change
// them (a nil value removes the claim).
func (is *Issuer) Claims(kv ...any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": is.URL, "aud": Audience, "sub": "user-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"ossa_namespace": "team-a", "scope": "openid agents:read runs:write email",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// Key is a signing key with its key ID.
type Key struct {
	KID string
	Alg jose.SignatureAlgorithm
	key any // *rsa.PrivateKey, *ecdsa.PrivateKey, []byte for HS
	pub any
}

// NewRSA generates a 2048-bit RSA key signing with RS256.
func NewRSA(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{KID: kid, Alg: jose.RS256, key: k, pub: &k.PublicKey}
}

// NewEC generates a P-256 key signing with ES256.
func NewEC(t testing.TB, kid string) *Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{KID: kid, Alg: jose.ES256, key: k, pub: &k.PublicKey}
}

// NewHMAC is a key signing with HS256 and secret, as an attacker does
// with an issuer's public key for a secret.
func NewHMAC(kid string, secret []byte) *Key {
	return &Key{KID: kid, Alg: jose.HS256, key: secret}
}

// PublicKey returns the public half (nil for an HMAC key).
func (k *Key) PublicKey() any { return k.pub }

// WithAlg returns a copy of k that signs with alg.
func (k *Key) WithAlg(alg jose.SignatureAlgorithm) *Key {
	c := *k
	c.Alg = alg
	return &c
}

// Public returns the JWK of the public half, as a key set lists it.
func (k *Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.pub, KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"}
}

// Sign returns the compact JWS of claims, with k's ID in its header.
func (k *Key) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.KID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.KID)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.key}, opts)
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
