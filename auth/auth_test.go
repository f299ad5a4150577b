package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/auth"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/oidc/oidctest"
	"github.com/ossa-platform/platform/ossatest"
)

func call(t *testing.T, p *ossatest.Platform, key, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestAPIKeys drives API keys through a real gateway with authentication
// on: the first start's admin key, keys made through the API with fewer
// rights, and every way a credential is refused.
func TestAPIKeys(t *testing.T) {
	for name, opts := range map[string][]ossatest.Option{"sqlite": nil, "postgres": {ossatest.WithPostgres()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testAPIKeys(t, ossatest.Start(t, append(opts, ossatest.WithAuth())...))
		})
	}
}

func testAPIKeys(t *testing.T, p *ossatest.Platform) {
	ctx := context.Background()
	// The first start wrote its admin key, readable by its owner only.
	fi, err := os.Stat(filepath.Join(p.Main.Config.DataDir, auth.AdminKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file: %v, %v", fi, err)
	}
	// Probes ask nobody; everything else asks.
	if code, _, _ := call(t, p, "", "GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz without a key: %d", code)
	}
	for _, path := range []string{"/health", "/api/v1/agents", "/metrics", "/openapi.json"} {
		code, h, body := call(t, p, "", "GET", path, "")
		if code != 401 || h.Get("WWW-Authenticate") == "" || !strings.Contains(h.Get("Content-Type"), "problem+json") {
			t.Fatalf("%s without a key: %d %v %s", path, code, h, body)
		}
	}
	if _, err := p.Client.CreateAgent(ctx, ohttp.AgentInput{Name: "scout", Type: platform.AgentWorker,
		Capabilities: []string{"x"}, Endpoint: "http://127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}

	// A key of team-a that may only read agents.
	made, err := p.Client.CreateKey(ctx, ohttp.KeyInput{Name: "ci", Namespace: "team-a",
		Scopes: []platform.Scope{platform.ScopeAgentsRead}, ExpiresIn: "90d"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(made.Key, made.Prefix) || made.ExpiresAt == nil || made.ExpiresAt.Before(time.Now().Add(89*24*time.Hour)) {
		t.Fatalf("made %+v", made)
	}
	reader := made.Key
	if code, _, body := call(t, p, reader, "GET", "/api/v1/agents", ""); code != 200 || strings.Contains(body, "scout") {
		t.Fatalf("team-a lists: %d %s (the default namespace's agent must not show)", code, body)
	}
	// Another namespace's agent does not exist for it, whatever its ref.
	if code, _, _ := call(t, p, reader, "GET", "/api/v1/agents/scout", ""); code != 404 {
		t.Fatalf("team-a reads default's agent: %d, want 404", code)
	}
	if code, _, body := call(t, p, reader, "GET", "/api/v1/agents", ""); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	code, _, body := call(t, p, reader, "POST", "/api/v1/agents", `{"name":"w","type":"worker","capabilities":["x"],"endpoint":"http://127.0.0.1:9"}`)
	if code != 403 || !strings.Contains(body, "agents:write") {
		t.Fatalf("a read-only key writes: %d %s", code, body)
	}
	if code, _, _ := call(t, p, reader, "GET", "/api/v1/keys", ""); code != 403 {
		t.Fatalf("a read-only key lists keys: %d", code)
	}
	// X-OSSA-Namespace cannot take it elsewhere.
	req, _ := http.NewRequest("GET", p.URL+"/api/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	req.Header.Set("X-OSSA-Namespace", "default")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("team-a's key in default: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// A non-admin key can make no key, and an admin key no broader one
	// than it has is checked by the handler: team-a keys cannot be made
	// for every namespace by team-a.
	if code, _, _ := call(t, p, reader, "POST", "/api/v1/keys", `{"scopes":["admin"]}`); code != 403 {
		t.Fatalf("a read-only key makes a key: %d", code)
	}
	// Bad input is a problem that names the field.
	code, _, body = call(t, p, p.AdminKey, "POST", "/api/v1/keys", `{"scopes":["nope"],"expires_in":"soon"}`)
	if code != 422 || !strings.Contains(body, "/scopes/0") || !strings.Contains(body, "/expires_in") {
		t.Fatalf("bad key input: %d %s", code, body)
	}

	// Refused credentials, none of which says whether the prefix exists.
	wrong := made.Prefix + strings.Repeat("a", len(made.Key)-len(made.Prefix))
	for name, key := range map[string]string{"wrong secret": wrong, "not a key": "ossa_short", "unknown": "ossa_" + strings.Repeat("b", 48),
		"other token": "eyJhbGciOiJub25lIn0.e30."} {
		code, _, body := call(t, p, key, "GET", "/api/v1/agents", "")
		if code != 401 || strings.Contains(body, key) {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	for _, h := range []string{"Basic " + reader, "Bearer", reader} {
		req, _ := http.NewRequest("GET", p.URL+"/api/v1/agents", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || strings.Contains(string(b), reader) {
			t.Errorf("Authorization %.12q...: %d %s", h, resp.StatusCode, b)
		}
	}

	// Last use is recorded.
	if err := p.Main.Auth.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := p.Client.ListKeys(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, k := range keys {
		if k.ID == made.ID {
			seen = k.LastUsedAt != nil
		}
		if b, _ := json.Marshal(k); strings.Contains(string(b), made.Key) || strings.Contains(string(b), `"hash"`) {
			t.Fatalf("a listed key shows its secret: %s", b)
		}
	}
	if !seen {
		t.Fatalf("no last-used time for the key used: %+v", keys)
	}

	// Revoked: refused at once on this gateway.
	if _, err := p.Client.RevokeKey(ctx, made.ID); err != nil {
		t.Fatal(err)
	}
	if code, _, body := call(t, p, reader, "GET", "/api/v1/agents", ""); code != 401 || !strings.Contains(body, "revoked") {
		t.Fatalf("a revoked key: %d %s", code, body)
	}

	// Expired: refused.
	soon := time.Now().Add(1500 * time.Millisecond)
	short, err := p.Client.CreateKey(ctx, ohttp.KeyInput{Scopes: []platform.Scope{platform.ScopeAgentsRead}, ExpiresAt: &soon})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := call(t, p, short.Key, "GET", "/api/v1/agents", ""); code != 200 {
		t.Fatalf("a fresh key: %d", code)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	if code, _, body := call(t, p, short.Key, "GET", "/api/v1/agents", ""); code != 401 || !strings.Contains(body, "expired") {
		t.Fatalf("an expired key: %d %s", code, body)
	}
}

// TestBootstrapOnce checks that a second start over the same store makes
// no second admin key, and writes no file.
func TestBootstrapOnce(t *testing.T) {
	db := ossatest.SQLite(t)
	dir1, dir2 := t.TempDir(), t.TempDir()
	ctx := context.Background()
	k1, _, err := auth.Bootstrap(ctx, db, dir1)
	if err != nil || k1 == "" {
		t.Fatalf("first: %q %v", k1, err)
	}
	k2, _, err := auth.Bootstrap(ctx, db, dir2)
	if err != nil || k2 != "" {
		t.Fatalf("second: %q %v", k2, err)
	}
	if got, _ := auth.ReadKeyFile(dir1); got != k1 {
		t.Fatalf("file holds %q", got)
	}
	if got, _ := auth.ReadKeyFile(dir2); got != "" {
		t.Fatalf("the second start wrote %q", got)
	}
	entries, _ := os.ReadDir(dir2)
	if len(entries) != 0 {
		t.Fatalf("the second start left %v", entries)
	}
}

// TestBearerTokens checks the composition on a real gateway: API keys and
// OpenID Connect tokens of a real issuer side by side; a token the issuer
// did not sign, and one of another audience, refused.
func TestBearerTokens(t *testing.T) {
	key := oidctest.NewRSA(t, "k1")
	is := oidctest.Start(t, key)
	p := ossatest.Start(t, ossatest.WithAuth(), ossatest.WithConfig(func(c *serve.Config) {
		c.OIDCIssuer, c.OIDCAudience = is.URL, oidctest.Audience
	}))
	token := key.Sign(t, is.Claims())
	code, _, body := call(t, p, token, "GET", "/api/v1/agents", "")
	if code != 200 {
		t.Fatalf("a good token: %d %s", code, body)
	}
	if code, _, _ := call(t, p, p.AdminKey, "GET", "/api/v1/agents", ""); code != 200 {
		t.Fatalf("the admin key beside OIDC: %d", code)
	}
	other := oidctest.NewRSA(t, "k1")
	for name, tok := range map[string]string{
		"wrong key":      other.Sign(t, is.Claims()),
		"wrong audience": key.Sign(t, is.Claims("aud", "someone-else")),
		"expired":        key.Sign(t, is.Claims("exp", time.Now().Add(-time.Hour).Unix())),
	} {
		if code, _, body := call(t, p, tok, "GET", "/api/v1/agents", ""); code != 401 || strings.Contains(body, tok) {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
}
