package oidc_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/oidc"
)

const iss = "https://idp.example.com"

func TestMapClaims(t *testing.T) {
	t.Parallel()
	s := func(scopes ...platform.Scope) []platform.Scope { return scopes }
	for _, tc := range []struct {
		name    string
		m       oidc.Mapping
		payload string
		ns      string
		seen    []string
		scopes  []platform.Scope
	}{
		{"defaults", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"team-a","scope":"openid agents:read profile runs:read"}`,
			"team-a", []string{"team-a"}, s(platform.ScopeAgentsRead, platform.ScopeRunsRead)},
		{"no scopes", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"team-a"}`, "team-a", []string{"team-a"}, nil},
		{"scope null", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"team-a","scope":null}`, "team-a", []string{"team-a"}, nil},
		{"scopes as an array, repeated", oidc.Mapping{ScopesClaim: "scp"}, `{"sub":"u","ossa_namespace":"a","scp":["admin","admin","x:y"],"scope":"agents:read"}`,
			"a", []string{"a"}, s(platform.ScopeAdmin)},
		{"space-separated is not split in arrays", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"a","scope":["agents:read runs:read"]}`,
			"a", []string{"a"}, nil},
		{"default scopes added", oidc.Mapping{DefaultScopes: s(platform.ScopeRunsWrite, platform.ScopeAgentsRead)},
			`{"sub":"u","ossa_namespace":"a","scope":"agents:read"}`, "a", []string{"a"}, s(platform.ScopeAgentsRead, platform.ScopeRunsWrite)},
		{"namespace from an array", oidc.Mapping{NamespaceClaim: "groups"}, `{"sub":"u","groups":["Admins","team-b","team-c","team-b"]}`,
			"team-b", []string{"team-b", "team-c"}, nil},
		{"a URL-like claim name", oidc.Mapping{NamespaceClaim: "https://ossa.example/namespace"}, `{"sub":"u","https://ossa.example/namespace":"team-a"}`,
			"team-a", []string{"team-a"}, nil},
		{"prefix", oidc.Mapping{NamespaceClaim: "repository", NamespacePrefix: "my-org/"}, `{"sub":"repo:my-org/api:ref:refs/heads/main","repository":"my-org/api"}`,
			"api", []string{"api"}, nil},
		{"namespaces claim", oidc.Mapping{NamespacesClaim: "groups"}, `{"sub":"u","ossa_namespace":"a","groups":["b","a","B c","c"]}`,
			"a", []string{"a", "b", "c"}, nil},
		{"namespaces claim as a string", oidc.Mapping{NamespacesClaim: "also"}, `{"sub":"u","ossa_namespace":"a","also":"b"}`,
			"a", []string{"a", "b"}, nil},
		{"namespaces claim absent", oidc.Mapping{NamespacesClaim: "groups"}, `{"sub":"u","ossa_namespace":"a"}`, "a", []string{"a"}, nil},
		{"every namespace", oidc.Mapping{NamespacesClaim: "groups", NamespacePrefix: "ossa-"}, `{"sub":"u","ossa_namespace":"ossa-a","groups":["ossa-*","*"]}`,
			"a", []string{"a", "*"}, nil},
		{"* is not an acting namespace", oidc.Mapping{NamespaceClaim: "groups"}, `{"sub":"u","groups":["*","a"]}`, "a", []string{"a"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.m.MapClaims(iss, []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != platform.PrincipalOIDC || p.Subject != iss+"#"+subOf(tc.payload) || p.Namespace != tc.ns ||
				!slices.Equal(p.Namespaces, tc.seen) || !slices.Equal(p.Scopes, tc.scopes) {
				t.Fatalf("got %+v, want namespace %q, namespaces %q, scopes %q", p, tc.ns, tc.seen, tc.scopes)
			}
		})
	}
}

func subOf(payload string) string {
	_, rest, _ := strings.Cut(payload, `"sub":"`)
	sub, _, _ := strings.Cut(rest, `"`)
	return sub
}

func TestMapClaimsRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		m       oidc.Mapping
		payload string
		want    string
	}{
		{"not an object", oidc.Mapping{}, `[1]`, "not a JSON object"},
		{"null", oidc.Mapping{}, `null`, "not a JSON object"},
		{"no sub", oidc.Mapping{}, `{"ossa_namespace":"a"}`, "no sub claim"},
		{"empty sub", oidc.Mapping{}, `{"sub":"","ossa_namespace":"a"}`, "no sub claim"},
		{"sub a number", oidc.Mapping{}, `{"sub":1,"ossa_namespace":"a"}`, "no sub claim"},
		{"no namespace", oidc.Mapping{}, `{"sub":"u"}`, `lacks the claim "ossa_namespace"`},
		{"namespace null", oidc.Mapping{}, `{"sub":"u","ossa_namespace":null}`, `lacks the claim "ossa_namespace"`},
		{"namespace invalid", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"Team_A"}`, "holds no valid namespace (a DNS-1123 label)"},
		{"namespace *", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"*"}`, "holds no valid namespace"},
		{"namespace empty array", oidc.Mapping{NamespaceClaim: "groups"}, `{"sub":"u","groups":[]}`, `claim "groups" holds no valid namespace`},
		{"namespace of another prefix", oidc.Mapping{NamespaceClaim: "repository", NamespacePrefix: "my-org/"}, `{"sub":"u","repository":"evil-org/api"}`,
			`after the prefix "my-org/"`},
		{"namespace a number", oidc.Mapping{}, `{"sub":"u","ossa_namespace":5}`, `claim "ossa_namespace" is neither a string nor an array of strings`},
		{"namespaces an object", oidc.Mapping{NamespacesClaim: "groups"}, `{"sub":"u","ossa_namespace":"a","groups":{"a":1}}`, `claim "groups" is neither`},
		{"scopes mixed array", oidc.Mapping{}, `{"sub":"u","ossa_namespace":"a","scope":["agents:read",1]}`, `claim "scope" is neither`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.m.MapClaims(iss, []byte(tc.payload))
			if err == nil {
				t.Fatalf("accepted as %+v", p)
			}
			if platform.ErrorCode(err) != platform.EUNAUTHORIZED || !strings.Contains(platform.ErrorMessage(err), tc.want) {
				t.Fatalf("%v, want EUNAUTHORIZED saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "Team_A") || strings.Contains(err.Error(), "evil-org") {
				t.Errorf("the message repeats a claim's value: %v", err)
			}
		})
	}
}

// FuzzMapClaims: whatever the payload and the claim names, MapClaims
// makes a valid principal of its namespaces or refuses with EUNAUTHORIZED,
// and never panics.
func FuzzMapClaims(f *testing.F) {
	f.Add(`{"sub":"u","ossa_namespace":"team-a","scope":"openid agents:read"}`, "", "", "", "")
	f.Add(`{"sub":"u","groups":["ossa-a","ossa-*",3],"scp":["admin"]}`, "groups", "groups", "ossa-", "scp")
	f.Add(`{"sub":"u","ossa_namespace":["x","y"],"scope":null}`, "", "ossa_namespace", "", "")
	f.Add(`{"sub":"\u0000","ossa_namespace":"a","scope":"  agents:read\tadmin "}`, "", "", "", "")
	f.Fuzz(func(t *testing.T, payload, nsClaim, nssClaim, prefix, scopesClaim string) {
		m := oidc.Mapping{NamespaceClaim: nsClaim, NamespacesClaim: nssClaim, NamespacePrefix: prefix, ScopesClaim: scopesClaim}
		p, err := m.MapClaims(iss, []byte(payload))
		if err != nil {
			if platform.ErrorCode(err) != platform.EUNAUTHORIZED {
				t.Fatalf("%v: code %q", err, platform.ErrorCode(err))
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if p.Kind != platform.PrincipalOIDC || !strings.HasPrefix(p.Subject, iss+"#") || p.Namespace == platform.AllNamespaces {
			t.Fatalf("%+v", p)
		}
		for _, s := range p.Scopes {
			if !s.Valid() {
				t.Fatalf("scope %q", s)
			}
		}
	})
}
