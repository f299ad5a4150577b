package oidc_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/oidc"
	"github.com/ossa-platform/platform/oidc/oidctest"
)

func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey := oidctest.NewRSA(t, "rsa-1"), oidctest.NewEC(t, "ec-1")
	is := oidctest.Start(t, rsaKey, ecKey)
	v := newVerifier(t, config(is))
	for _, k := range []*oidctest.Key{rsaKey, ecKey} {
		t.Run(string(k.Alg), func(t *testing.T) {
			p, err := v.Verify(context.Background(), k.Sign(t, is.Claims()))
			if err != nil {
				t.Fatal(err)
			}
			want := &platform.Principal{Kind: platform.PrincipalOIDC, Subject: is.URL + "#user-1", Namespace: "team-a",
				Namespaces: []string{"team-a"}, Scopes: []platform.Scope{platform.ScopeAgentsRead, platform.ScopeRunsWrite}}
			if !equalPrincipal(p, want) {
				t.Fatalf("got %+v, want %+v", p, want)
			}
		})
	}
	// Both keys came in one fetch of the key set.
	if n := is.Fetched.Load(); n != 1 {
		t.Errorf("the key set was fetched %d times, want 1", n)
	}
	if err := v.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func equalPrincipal(a, b *platform.Principal) bool {
	return a.Kind == b.Kind && a.Subject == b.Subject && a.Namespace == b.Namespace &&
		slices.Equal(a.Namespaces, b.Namespaces) && slices.Equal(a.Scopes, b.Scopes)
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	good, ec := oidctest.NewRSA(t, "rsa-1"), oidctest.NewEC(t, "ec-1")
	is := oidctest.Start(t, good, ec)
	v := newVerifier(t, config(is))
	// The key set is in the cache before the table runs, as it would be
	// on a gateway that has served a while.
	if _, err := v.Verify(context.Background(), good.Sign(t, is.Claims())); err != nil {
		t.Fatal(err)
	}
	impostor := oidctest.NewRSA(t, "rsa-1") // claims the trusted key's ID
	stranger := oidctest.NewRSA(t, "rsa-unknown")
	rs512 := good.WithAlg(jose.RS512)
	pubDER, err := x509.MarshalPKIXPublicKey(good.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	hs := oidctest.NewHMAC("rsa-1", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	for _, tc := range []struct {
		name, token string
		want        []string
	}{
		{"expired", good.Sign(t, is.Claims("exp", now.Add(-time.Minute).Unix())), []string{"expired at"}},
		{"not yet valid", good.Sign(t, is.Claims("nbf", now.Add(time.Hour).Unix())), []string{"not valid before"}},
		{"no expiry", good.Sign(t, is.Claims("exp", nil)), []string{"no expiry"}},
		{"wrong audience", good.Sign(t, is.Claims("aud", "another-api")), []string{"audience", audience}},
		{"wrong audience list", good.Sign(t, is.Claims("aud", []string{"a", "b"})), []string{"audience"}},
		{"wrong issuer", good.Sign(t, is.Claims("iss", "https://evil.example")), []string{"another issuer"}},
		{"key not in the key set, same kid", impostor.Sign(t, is.Claims()), []string{"not signed by any of the issuer's keys"}},
		{"unknown kid", stranger.Sign(t, is.Claims()), []string{"not signed by any of the issuer's keys"}},
		{"alg none", b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(is.Claims()) + ".", []string{"unsigned (alg none)"}},
		{"alg None", b64(map[string]string{"alg": "None"}) + "." + b64(is.Claims()) + ".", []string{"alg none"}},
		{"HS256 with the public key as secret", hs.Sign(t, is.Claims()), []string{"shared secret", "HS256"}},
		{"algorithm not accepted", rs512.Sign(t, is.Claims()), []string{"RS512", "accepted: RS256, ES256"}},
		{"one part", "not-a-token", []string{"not a JWT"}},
		{"JWE", "a.b.c.d.e", []string{"encrypted (JWE)"}},
		{"header not base64url", "%%%.e30.sig", []string{"not base64url"}},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("[1]")) + ".e30.sig", []string{"header is not a JSON object"}},
		{"header without alg", b64(map[string]string{"kid": "rsa-1"}) + ".e30.sig", []string{"names no alg"}},
		{"signature not base64url", b64(map[string]string{"alg": "RS256", "kid": "rsa-1"}) + "." + b64(is.Claims()) + ".!!!", []string{"malformed"}},
		{"signature of another token", func() string {
			a, b := good.Sign(t, is.Claims()), good.Sign(t, is.Claims("ossa_namespace", "team-b"))
			return a[:strings.LastIndex(a, ".")] + b[strings.LastIndex(b, "."):]
		}(), []string{"not signed by any of the issuer's keys"}},
		{"too long", strings.Repeat("a", oidc.MaxTokenBytes+1), []string{"over 64 KiB"}},
		{"empty", "", []string{"no token"}},
		{"no namespace claim", good.Sign(t, is.Claims("ossa_namespace", nil)), []string{`lacks the claim "ossa_namespace"`}},
		{"invalid namespace", ec.Sign(t, is.Claims("ossa_namespace", "Team A")), []string{`claim "ossa_namespace" holds no valid namespace`}},
		{"no sub", good.Sign(t, is.Claims("sub", nil)), []string{"no sub claim"}},
		{"scope of the wrong type", good.Sign(t, is.Claims("scope", 7)), []string{`claim "scope" is neither`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted as %+v", p)
			}
			wantCode(t, err, platform.EUNAUTHORIZED, tc.token, tc.want...)
		})
	}
}

// A key the issuer starts signing with while the verifier runs is
// fetched when the first token naming it comes, once.
func TestVerifyKeyRotation(t *testing.T) {
	t.Parallel()
	old, next := oidctest.NewRSA(t, "2024-01"), oidctest.NewEC(t, "2024-02")
	is := oidctest.Start(t, old)
	cfg := config(is)
	cfg.KeyRefreshInterval = time.Millisecond
	v := newVerifier(t, cfg)
	if _, err := v.Verify(context.Background(), old.Sign(t, is.Claims())); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), next.Sign(t, is.Claims())); err == nil {
		t.Fatal("a key not yet published was accepted")
	}
	before := is.Fetched.Load()
	is.Publish(old, next)
	time.Sleep(5 * time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), next.Sign(t, is.Claims())); err != nil {
				t.Errorf("rotated-in key: %v", err)
			}
		})
	}
	wg.Wait()
	if got := is.Fetched.Load() - before; got != 1 {
		t.Errorf("the key set was fetched %d times for the new key, want 1 (cached after)", got)
	}
	if _, err := v.Verify(context.Background(), old.Sign(t, is.Claims())); err != nil {
		t.Errorf("the old key, still published: %v", err)
	}
	// Retired: the next fetch (for another new key) drops it.
	newest := oidctest.NewRSA(t, "2024-03")
	is.Publish(next, newest)
	time.Sleep(5 * time.Millisecond)
	if _, err := v.Verify(context.Background(), newest.Sign(t, is.Claims())); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	_, err := v.Verify(context.Background(), old.Sign(t, is.Claims()))
	wantCode(t, err, platform.EUNAUTHORIZED, "", "not signed by any")
}

// Tokens naming unknown key IDs make the verifier ask the issuer at most
// once per KeyRefreshInterval, and those it does not ask for are refused
// as unknown, not as unavailable.
func TestVerifyKeyFetchThrottled(t *testing.T) {
	t.Parallel()
	known := oidctest.NewRSA(t, "k1")
	is := oidctest.Start(t, known)
	cfg := config(is)
	cfg.KeyRefreshInterval = time.Hour
	v := newVerifier(t, cfg)
	if _, err := v.Verify(context.Background(), known.Sign(t, is.Claims())); err != nil {
		t.Fatal(err)
	}
	fetched := is.Fetched.Load()
	rotated := oidctest.NewRSA(t, "k2")
	is.Publish(known, rotated)
	for i := range 20 {
		s := oidctest.NewEC(t, "made-up-"+string(rune('a'+i)))
		_, err := v.Verify(context.Background(), s.Sign(t, is.Claims()))
		wantCode(t, err, platform.EUNAUTHORIZED, "", "not signed by any of the issuer's keys", "at most every 1h0m0s")
	}
	_, err := v.Verify(context.Background(), rotated.Sign(t, is.Claims()))
	wantCode(t, err, platform.EUNAUTHORIZED, "", "not signed by any")
	if got := is.Fetched.Load(); got != fetched {
		t.Errorf("the key set was fetched %d more times within the interval, want 0", got-fetched)
	}
	if _, err := v.Verify(context.Background(), known.Sign(t, is.Claims())); err != nil {
		t.Errorf("a cached key within the interval: %v", err)
	}
}

// An issuer that does not answer at the start does not stop New; tokens
// are refused with EUNAVAILABLE until it answers, then accepted.
func TestVerifyIssuerDownAtStart(t *testing.T) {
	t.Parallel()
	key := oidctest.NewRSA(t, "k1")
	is := oidctest.NewUnstarted(t, key)
	cfg := config(is)
	cfg.StartWait = 50 * time.Millisecond
	start := time.Now()
	v, err := oidc.New(context.Background(), cfg, &http.Client{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("New with the issuer down: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("New took %s with the issuer down, want about StartWait", d)
	}
	token := key.Sign(t, is.Claims())
	_, err = v.Verify(context.Background(), token)
	wantCode(t, err, platform.EUNAVAILABLE, token, "cannot be reached")
	wantCode(t, v.Ping(context.Background()), platform.EUNAVAILABLE, "")
	is.Server.Start()
	waitAccepted(t, v, token)
	if err := v.Ping(context.Background()); err != nil {
		t.Errorf("Ping once up: %v", err)
	}
}

// An issuer whose port refuses connections, then one that answers 503:
// EUNAVAILABLE, with the reason for logs in the error's text only.
func TestVerifyIssuerRefusing(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	v := newVerifier(t, oidc.Config{Issuer: url, Audience: audience, StartWait: time.Second})
	key := oidctest.NewRSA(t, "k1")
	_, err = v.Verify(context.Background(), key.Sign(t, map[string]any{"iss": url}))
	wantCode(t, err, platform.EUNAVAILABLE, "", "cannot be reached", "next attempt in")
	if msg := platform.ErrorMessage(err); strings.Contains(msg, url) {
		t.Errorf("the message names the issuer's address: %q", msg)
	}
	if !strings.Contains(err.Error(), "connect") {
		t.Errorf("the error's text lacks the cause: %v", err)
	}

	is := oidctest.Start(t, key)
	is.Down.Store(true)
	v = newVerifier(t, config(is))
	token := key.Sign(t, is.Claims())
	_, err = v.Verify(context.Background(), token)
	wantCode(t, err, platform.EUNAVAILABLE, token, "cannot be reached")
	is.Down.Store(false)
	waitAccepted(t, v, token)
	if n := is.Discovered.Load(); n < 2 {
		t.Errorf("discovered %d times, want the retries", n)
	}
}

func waitAccepted(t *testing.T, v *oidc.Verifier, token string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(context.Background(), token)
		if err == nil {
			return
		}
		if platform.ErrorCode(err) != platform.EUNAVAILABLE || time.Now().After(deadline) {
			t.Fatalf("once the issuer is up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A key set that cannot be fetched (down, or not a key set) is
// EUNAVAILABLE, and Ping says so, until it is fetched again.
func TestVerifyKeySetUnavailable(t *testing.T) {
	t.Parallel()
	for name, breakIt := range map[string]func(*oidctest.Issuer){
		"down":       func(is *oidctest.Issuer) { is.Down.Store(true) },
		"not JSON":   func(is *oidctest.Issuer) { is.ServeKeySet("<html>oops</html>") },
		"no keys":    func(is *oidctest.Issuer) { is.ServeKeySet(`{"error":"x"}`) },
		"bad key":    func(is *oidctest.Issuer) { is.ServeKeySet(`{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}`) },
		"over 1 MiB": func(is *oidctest.Issuer) { is.ServeKeySet(`{"keys":[],"x":"` + strings.Repeat("x", 1<<20) + `"}`) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key := oidctest.NewRSA(t, "k1")
			is := oidctest.Start(t, key)
			cfg := config(is)
			cfg.KeyRefreshInterval = 20 * time.Millisecond
			v := newVerifier(t, cfg) // discovered while the issuer answers
			breakIt(is)
			token := key.Sign(t, is.Claims())
			_, err := v.Verify(context.Background(), token)
			wantCode(t, err, platform.EUNAVAILABLE, token, "keys cannot be fetched")
			wantCode(t, v.Ping(context.Background()), platform.EUNAVAILABLE, "", "keys could not be fetched")
			// Within the interval the fetch is not tried again, and the
			// token is still unavailable rather than unknown.
			_, err = v.Verify(context.Background(), token)
			wantCode(t, err, platform.EUNAVAILABLE, token)
			is.Down.Store(false)
			is.Publish(key)
			waitAccepted(t, v, token)
			if err := v.Ping(context.Background()); err != nil {
				t.Errorf("Ping once fetched: %v", err)
			}
		})
	}
}

func TestNewRefusesContradictions(t *testing.T) {
	t.Parallel()
	is := oidctest.Start(t, oidctest.NewRSA(t, "k1"))
	is.Rename(is.URL + "/")
	_, err := oidc.New(context.Background(), config(is), nil)
	if err == nil || !strings.Contains(err.Error(), "names itself") || !strings.Contains(err.Error(), "trailing slash") {
		t.Errorf("issuer mismatch: %v", err)
	}
	for _, tc := range []struct {
		cfg  oidc.Config
		want string
	}{
		{oidc.Config{Audience: audience}, "issuer: is required"},
		{oidc.Config{Issuer: "http://idp.example.com", Audience: audience}, "http:// only on a loopback"},
		{oidc.Config{Issuer: "https://idp.example.com?x=1", Audience: audience}, "without user, query"},
		{oidc.Config{Issuer: "https://idp.example.com"}, "audience: is required"},
		{oidc.Config{Issuer: "https://idp.example.com", Audience: audience, Algorithms: []string{"RS256", "HS256"}}, "HS256 is never accepted"},
		{oidc.Config{Issuer: "https://idp.example.com", Audience: audience, Algorithms: []string{"none"}}, "alg none"},
		{oidc.Config{Issuer: "https://idp.example.com", Audience: audience, Algorithms: []string{"XS1"}}, "unknown algorithm"},
		{oidc.Config{Issuer: "https://idp.example.com", Audience: audience, Claims: oidc.Mapping{DefaultScopes: []platform.Scope{"root"}}}, `not "root"`},
	} {
		_, err := oidc.New(context.Background(), tc.cfg, nil)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want EINVALID saying %q", tc.cfg, err, tc.want)
		}
	}
}

// The claims mapping as configured reaches the principal Verify makes.
func TestVerifyMapping(t *testing.T) {
	t.Parallel()
	key := oidctest.NewRSA(t, "k1")
	is := oidctest.Start(t, key)
	cfg := config(is)
	cfg.Claims = oidc.Mapping{NamespaceClaim: "groups", NamespacesClaim: "extra", NamespacePrefix: "ossa-",
		ScopesClaim: "permissions", DefaultScopes: []platform.Scope{platform.ScopeEventsRead}}
	v := newVerifier(t, cfg)
	p, err := v.Verify(context.Background(), key.Sign(t, is.Claims(
		"groups", []string{"admins", "ossa-Team", "ossa-team-b", "ossa-team-c"},
		"extra", "ossa-team-d",
		"permissions", []string{"agents:write", "delete:everything"},
	)))
	if err != nil {
		t.Fatal(err)
	}
	want := &platform.Principal{Kind: platform.PrincipalOIDC, Subject: is.URL + "#user-1", Namespace: "team-b",
		Namespaces: []string{"team-b", "team-c", "team-d"}, Scopes: []platform.Scope{platform.ScopeAgentsWrite, platform.ScopeEventsRead}}
	if !equalPrincipal(p, want) {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	_, err = v.Verify(context.Background(), key.Sign(t, is.Claims("groups", []string{"admins"})))
	wantCode(t, err, platform.EUNAUTHORIZED, "", `claim "groups" holds no valid namespace`, `after the prefix "ossa-"`)
}
