package main

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	"github.com/ossa-platform/platform/oidc/oidctest"
	"github.com/ossa-platform/platform/ossatest"
)

func TestConfigOIDC(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := LoadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCIssuer != "" || !slices.Equal(c.OIDCAlgorithms, []string{"RS256", "ES256"}) || c.OIDCNamespaceClaim != "ossa_namespace" ||
		c.OIDCNamespacesClaim != "" || c.OIDCScopesClaim != "scope" || c.OIDCDefaultScopes != nil {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = LoadConfig([]string{"--oidc-audience", "ossa"}, env(map[string]string{
		"OSSA_OIDC_ISSUER": "https://token.actions.githubusercontent.com", "OSSA_OIDC_ALGORITHMS": "RS256",
		"OSSA_OIDC_NAMESPACE_CLAIM": "repository", "OSSA_OIDC_NAMESPACE_PREFIX": "my-org/",
		"OSSA_OIDC_DEFAULT_SCOPES": "runs:write, runs:read",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCAudience != "ossa" || c.OIDCNamespaceClaim != "repository" || c.OIDCNamespacePrefix != "my-org/" ||
		!slices.Equal(c.OIDCDefaultScopes, []platform.Scope{platform.ScopeRunsWrite, platform.ScopeRunsRead}) {
		t.Fatalf("set: %+v", c)
	}
	for _, tc := range []struct {
		vars map[string]string
		want []string
	}{
		{map[string]string{"OSSA_OIDC_ISSUER": "https://idp.example"}, []string{"OSSA_OIDC_ISSUER and OSSA_OIDC_AUDIENCE are set together"}},
		{map[string]string{"OSSA_OIDC_AUDIENCE": "ossa"}, []string{"OSSA_OIDC_ISSUER and OSSA_OIDC_AUDIENCE"}},
		{map[string]string{"OSSA_OIDC_ISSUER": "http://idp.example", "OSSA_OIDC_AUDIENCE": "a"}, []string{"OSSA_OIDC_ISSUER", "loopback"}},
		{map[string]string{"OSSA_OIDC_ISSUER": "idp.example", "OSSA_OIDC_AUDIENCE": "a"}, []string{"OSSA_OIDC_ISSUER", "https://"}},
		{map[string]string{"OSSA_OIDC_ALGORITHMS": "RS256,HS256"}, []string{"OSSA_OIDC_ALGORITHMS", "HS256 is never accepted"}},
		{map[string]string{"OSSA_OIDC_ALGORITHMS": "none"}, []string{"OSSA_OIDC_ALGORITHMS", "alg none"}},
		{map[string]string{"OSSA_OIDC_ALGORITHMS": " , "}, []string{"OSSA_OIDC_ALGORITHMS", "at least one"}},
		{map[string]string{"OSSA_OIDC_DEFAULT_SCOPES": "root"}, []string{"OSSA_OIDC_DEFAULT_SCOPES", "unknown scope"}},
		{map[string]string{"OSSA_OIDC_ISSUER": "https://idp.example", "OSSA_OIDC_AUDIENCE": "a", "OSSA_OIDC_NAMESPACE_CLAIM": "scope"},
			[]string{"OSSA_OIDC_NAMESPACE_CLAIM and OSSA_OIDC_SCOPES_CLAIM"}},
	} {
		_, err := LoadConfig(nil, env(tc.vars), io.Discard)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v, want an error saying %q", tc.vars, err, w)
			}
		}
	}
}

// serve.Main builds the verifier from the settings, keeps it (Main.OIDC,
// Shared.OIDC) and starts while the issuer is down; an issuer that
// contradicts the settings stops the start.
func TestServeOIDC(t *testing.T) {
	t.Parallel()
	key := oidctest.NewRSA(t, "k1")
	is := oidctest.Start(t, key)
	svc := &sharedSpy{}
	p := ossatest.Start(t, ossatest.WithService(svc), ossatest.WithConfig(func(c *serve.Config) {
		c.OIDCIssuer, c.OIDCAudience = is.URL, oidctest.Audience
		c.OIDCNamespacesClaim, c.OIDCDefaultScopes = "groups", []platform.Scope{platform.ScopeEventsRead}
	}))
	if p.Main.OIDC == nil || svc.shared.OIDC != p.Main.OIDC {
		t.Fatalf("verifier %p, shared %p, with OSSA_OIDC_ISSUER set", p.Main.OIDC, svc.shared.OIDC)
	}
	got, err := p.Main.OIDC.Verify(context.Background(), key.Sign(t, is.Claims("groups", []string{"team-b", "Not A Namespace"})))
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "team-a" || !slices.Equal(got.Namespaces, []string{"team-a", "team-b"}) ||
		!slices.Equal(got.Scopes, []platform.Scope{platform.ScopeAgentsRead, platform.ScopeRunsWrite, platform.ScopeEventsRead}) {
		t.Fatalf("principal %+v", got)
	}
	if ossatest.Start(t).Main.OIDC != nil {
		t.Error("a verifier without OSSA_OIDC_ISSUER")
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	p = ossatest.Start(t, ossatest.WithConfig(func(c *serve.Config) { c.OIDCIssuer, c.OIDCAudience = down, "ossa" }))
	_, err = p.Main.OIDC.Verify(context.Background(), key.Sign(t, is.Claims("iss", down)))
	if platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("issuer down: %v, want EUNAVAILABLE", err)
	}

	is.Rename("https://someone.else")
	_, err = ossatest.Open(context.Background(), ossatest.WithConfig(func(c *serve.Config) {
		c.OIDCIssuer, c.OIDCAudience = is.URL, oidctest.Audience
	}))
	if err == nil || !strings.Contains(err.Error(), "OSSA_OIDC_ISSUER") || !strings.Contains(err.Error(), "names itself") {
		t.Errorf("issuer contradicting the settings: %v", err)
	}
}

// sharedSpy is a service that keeps what it was opened with.
type sharedSpy struct{ shared *serve.Shared }

func (s *sharedSpy) Name() string                                   { return "spy" }
func (s *sharedSpy) Open(_ context.Context, sh *serve.Shared) error { s.shared = sh; return nil }
func (s *sharedSpy) URL() string                                    { return "" }
func (s *sharedSpy) Shutdown(context.Context) error                 { return nil }
