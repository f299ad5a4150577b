package platform_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
)

func TestAllowAll(t *testing.T) {
	p := platform.AllowAll()
	if err := p.Validate(); err != nil {
		t.Fatalf("AllowAll is not valid: %v", err)
	}
	if p.Namespace != platform.DefaultNamespace {
		t.Errorf("AllowAll acts in %q, want %q", p.Namespace, platform.DefaultNamespace)
	}
	for _, s := range platform.AllScopes {
		if !p.Can(s) {
			t.Errorf("AllowAll cannot %s", s)
		}
	}
	for _, ns := range []string{"default", "team-a", "x"} {
		if !p.Sees(ns) {
			t.Errorf("AllowAll does not see %q", ns)
		}
	}
	// "*" is no namespace: seeing every namespace is not seeing one named "*".
	if p.Sees(platform.AllNamespaces) {
		t.Error(`Sees("*") is true`)
	}
	// Each call is a principal of its own: narrowing one leaves the next alone.
	if _, err := p.In("team-a"); err != nil {
		t.Fatal(err)
	}
	if q := platform.AllowAll(); q.Namespace != platform.DefaultNamespace || !slices.Equal(q.Namespaces, []string{"*"}) {
		t.Fatalf("AllowAll changed: %+v", q)
	}
}

func TestPrincipalCanAndSees(t *testing.T) {
	p := &platform.Principal{Kind: platform.PrincipalAPIKey, Subject: "key-1", Namespace: "team-a",
		Namespaces: []string{"team-a", "shared"}, Scopes: []platform.Scope{platform.ScopeAgentsRead, platform.ScopeRunsWrite}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[platform.Scope]bool{platform.ScopeAgentsRead: true, platform.ScopeRunsWrite: true,
		platform.ScopeAgentsWrite: false, platform.ScopeMetrics: false, platform.ScopeAdmin: false} {
		if got := p.Can(s); got != want {
			t.Errorf("Can(%s) = %v, want %v", s, got, want)
		}
	}
	for ns, want := range map[string]bool{"team-a": true, "shared": true, "team-b": false, "default": false, "": false, "*": false} {
		if got := p.Sees(ns); got != want {
			t.Errorf("Sees(%q) = %v, want %v", ns, got, want)
		}
	}
	for ns, want := range map[string]bool{"team-a": true, "team-b": false, "": false} {
		if got := p.SeesEvent(&platform.Event{Namespace: ns}); got != want {
			t.Errorf("SeesEvent of namespace %q = %v, want %v", ns, got, want)
		}
	}
	// An event from before events had namespaces is of the default one.
	if !platform.AllowAll().SeesEvent(&platform.Event{}) || !(&platform.Principal{Namespaces: []string{"default"}}).SeesEvent(&platform.Event{}) {
		t.Error("an event without a namespace is not of the default namespace")
	}

	var nobody *platform.Principal
	if nobody.Can(platform.ScopeAgentsRead) || nobody.Sees("default") {
		t.Error("a nil principal can or sees something")
	}
}

func TestPrincipalIn(t *testing.T) {
	p := &platform.Principal{Kind: platform.PrincipalAPIKey, Subject: "key-1", Namespace: "team-a",
		Namespaces: []string{"team-a", "shared"}, Scopes: []platform.Scope{platform.ScopeRunsRead}}
	q, err := p.In("shared")
	if err != nil {
		t.Fatal(err)
	}
	if q.Namespace != "shared" || !slices.Equal(q.Namespaces, []string{"shared"}) || q.Sees("team-a") || !q.Can(platform.ScopeRunsRead) {
		t.Fatalf("In(shared) = %+v", q)
	}
	if p.Namespace != "team-a" || !slices.Equal(p.Namespaces, []string{"team-a", "shared"}) {
		t.Fatalf("In changed the principal it narrowed: %+v", p)
	}
	_, err = p.In("team-b")
	if platform.ErrorCode(err) != platform.EFORBIDDEN || !strings.Contains(platform.ErrorMessage(err), `"team-b"`) {
		t.Fatalf("In(team-b) = %v, want forbidden naming the namespace", err)
	}
	if _, err := platform.AllowAll().In(platform.AllNamespaces); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf(`In("*") = %v, want forbidden`, err)
	}
}

func TestPrincipalValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		p      platform.Principal
		fields []string
	}{
		{"empty", platform.Principal{}, []string{"kind", "subject", "namespace"}},
		{"bad namespace", platform.Principal{Kind: "api_key", Subject: "k", Namespace: "Team_A", Namespaces: []string{"Team_A"}},
			[]string{"namespace", "namespaces/0"}},
		{"namespace not seen", platform.Principal{Kind: "api_key", Subject: "k", Namespace: "team-a", Namespaces: []string{"team-b"}},
			[]string{"namespace"}},
		{"unknown scope", platform.Principal{Kind: "api_key", Subject: "k", Namespace: "team-a", Namespaces: []string{"team-a"},
			Scopes: []platform.Scope{"runs:read", "runs:delete"}}, []string{"scopes/1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			e, ok := err.(*platform.Error)
			if !ok || e.Code != platform.EINVALID {
				t.Fatalf("Validate() = %v, want invalid", err)
			}
			var got []string
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields %v, want %v: %v", got, tt.fields, err)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	got, err := platform.ParseScopes("agents:read, agents:write,runs:read,runs:write,events:read,agents:read")
	if err != nil {
		t.Fatal(err)
	}
	want := []platform.Scope{platform.ScopeAgentsRead, platform.ScopeAgentsWrite, platform.ScopeRunsRead,
		platform.ScopeRunsWrite, platform.ScopeEventsRead}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseScopes = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "agents:read,", "agents:delete", "Agents:Read"} {
		if _, err := platform.ParseScopes(bad); platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("ParseScopes(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	ctx := context.Background()
	if p := platform.PrincipalFrom(ctx); p != nil {
		t.Fatalf("a bare context carries %+v", p)
	}
	p := platform.AllowAll()
	if got := platform.PrincipalFrom(platform.WithPrincipal(ctx, p)); got != p {
		t.Fatalf("PrincipalFrom = %+v, want %+v", got, p)
	}
}
