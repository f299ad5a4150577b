package platform

import (
	"context"
	"slices"
	"strings"
)

// AllNamespaces stands for every namespace: in a principal's Namespaces it
// lets the principal see them all, and as the namespace of an AgentFilter
// or of RunStore.CountRuns it selects them all, for the work that belongs
// to no caller (health probes, metrics). It is never the name of a
// namespace, which is a DNS-1123 label.
const AllNamespaces = "*"

// ValidNamespace reports whether ns can name a namespace: a DNS-1123 label,
// as agent names are.
func ValidNamespace(ns string) bool { return ValidName(ns) }

// Scope is a right a principal may hold. A scope names a kind of
// resource and what may be done with it; ScopeAdmin holds every right.
type Scope string

// Scopes. Reading covers the GET routes of a resource, writing the others;
// ScopeMetrics is the right to scrape /metrics, which an operator's
// Prometheus holds without any right over agents or runs.
const (
	ScopeAgentsRead     Scope = "agents:read"
	ScopeAgentsWrite    Scope = "agents:write"
	ScopeWorkflowsRead  Scope = "workflows:read"
	ScopeWorkflowsWrite Scope = "workflows:write"
	ScopeRunsRead       Scope = "runs:read"
	ScopeRunsWrite      Scope = "runs:write"
	ScopeEventsRead     Scope = "events:read"
	ScopeMetrics        Scope = "metrics"
	ScopeAdmin          Scope = "admin"
)

// AllScopes lists every valid Scope.
var AllScopes = []Scope{ScopeAgentsRead, ScopeAgentsWrite, ScopeWorkflowsRead, ScopeWorkflowsWrite,
	ScopeRunsRead, ScopeRunsWrite, ScopeEventsRead, ScopeMetrics, ScopeAdmin}

// Valid reports whether s is one of AllScopes.
func (s Scope) Valid() bool { return slices.Contains(AllScopes, s) }

// ParseScopes reads a comma-separated list of scopes ("agents:read,
// runs:write"); spaces around each are ignored, and an unknown or empty
// one is EINVALID.
func ParseScopes(list string) ([]Scope, error) {
	var out []Scope
	for _, s := range strings.Split(list, ",") {
		sc := Scope(strings.TrimSpace(s))
		if !sc.Valid() {
			return nil, Errorf(EINVALID, "unknown scope %q: want one of %s", sc, QuoteList(AllScopes))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// PrincipalKind says how a principal was established.
type PrincipalKind string

// Principal kinds: nobody was asked (authentication is off), an API key,
// an OpenID Connect token.
const (
	PrincipalAnonymous PrincipalKind = "anonymous"
	PrincipalAPIKey    PrincipalKind = "api_key"
	PrincipalOIDC      PrincipalKind = "oidc"
)

// Principal is who is calling, and what it may do: the namespace a request
// acts in, the namespaces it may see, and its scopes. The gateway
// establishes one per request and puts it in the request's context
// (WithPrincipal), where every handler takes the namespace from.
type Principal struct {
	Kind PrincipalKind
	// Subject identifies the caller within its kind: an API key's ID, a
	// token's subject.
	Subject string
	// Namespace is the namespace the request acts in: where it creates,
	// and where it looks up what it names.
	Namespace string
	// Namespaces are the namespaces the principal may see, Namespace among
	// them; AllNamespaces among them means every one.
	Namespaces []string
	// Scopes are the principal's rights; ScopeAdmin holds them all.
	Scopes []Scope
}

// AllowAll returns the principal of every request while authentication is
// off: it acts in DefaultNamespace, sees every namespace and holds every
// scope, so that the gateway behaves as it did before principals.
func AllowAll() *Principal {
	return &Principal{Kind: PrincipalAnonymous, Subject: "anonymous", Namespace: DefaultNamespace,
		Namespaces: []string{AllNamespaces}, Scopes: []Scope{ScopeAdmin}}
}

// Can reports whether p holds scope s, itself or through ScopeAdmin. A nil
// principal can do nothing.
func (p *Principal) Can(s Scope) bool {
	return p != nil && (slices.Contains(p.Scopes, s) || slices.Contains(p.Scopes, ScopeAdmin))
}

// Sees reports whether p may see namespace ns. A nil principal sees
// nothing.
func (p *Principal) Sees(ns string) bool {
	return p != nil && ns != AllNamespaces && (slices.Contains(p.Namespaces, ns) || slices.Contains(p.Namespaces, AllNamespaces))
}

// SeesEvent reports whether p may receive e: whether it sees e's
// namespace. An event that names no namespace (one stored before events
// had them) is of DefaultNamespace.
func (p *Principal) SeesEvent(e *Event) bool {
	ns := e.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return p.Sees(ns)
}

// In returns p narrowed to namespace ns: acting in it and seeing it
// alone, with the same scopes. A namespace p does not see is EFORBIDDEN,
// which says nothing of what the namespace holds.
func (p *Principal) In(ns string) (*Principal, error) {
	if !p.Sees(ns) {
		return nil, Errorf(EFORBIDDEN, "this caller may not act in namespace %q", ns)
	}
	q := *p
	q.Namespace, q.Namespaces = ns, []string{ns}
	q.Scopes = slices.Clone(p.Scopes)
	return &q, nil
}

// Validate reports what makes p unusable: no kind or subject, a namespace
// that is not a valid name or that p does not see, an unknown scope.
func (p *Principal) Validate() error {
	var pr Problems
	if p.Kind == "" {
		pr.Add("kind", "is required")
	}
	if p.Subject == "" {
		pr.Add("subject", "is required")
	}
	switch {
	case !ValidNamespace(p.Namespace):
		pr.Add("namespace", "must be a DNS-1123 label, not %q", p.Namespace)
	case !p.Sees(p.Namespace):
		pr.Add("namespace", "must be one of the namespaces the principal sees")
	}
	for i, ns := range p.Namespaces {
		if ns != AllNamespaces && !ValidNamespace(ns) {
			pr.Add("namespaces/"+itoa(i), "must be a DNS-1123 label or %q, not %q", AllNamespaces, ns)
		}
	}
	for i, s := range p.Scopes {
		if !s.Valid() {
			pr.Add("scopes/"+itoa(i), "must be one of %s, not %q", QuoteList(AllScopes), s)
		}
	}
	return pr.Err("the principal is not valid")
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
