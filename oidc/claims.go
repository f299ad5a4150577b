package oidc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
)

// Mapping says which claims of a token make its principal: the namespace
// it acts in, the namespaces it sees and its scopes. Claims are named as
// they appear at the top level of the token's payload ("groups",
// "https://example.com/namespace"); a name is never split on dots, so
// that Auth0's URL-like claim names work as they are.
type Mapping struct {
	// NamespaceClaim is the claim naming the namespace the principal acts
	// in: a string, or an array of strings whose first valid value is the
	// namespace (all of its valid values are seen). Default
	// "ossa_namespace".
	NamespaceClaim string
	// NamespacesClaim, when set, is a claim (a string or an array of
	// strings, such as "groups") whose valid values are namespaces the
	// principal sees besides its own; a value "*" sees every namespace.
	// Default "": the principal sees its own namespace only.
	NamespacesClaim string
	// NamespacePrefix, when set, is what a claim value must start with to
	// name a namespace, and is cut from it: with "my-org/", the value
	// "my-org/team-a" names team-a and "other-org/team-a" names nothing.
	// It applies to both namespace claims. Default "".
	NamespacePrefix string
	// ScopesClaim is the claim holding the scopes: a string of
	// space-separated scopes (OAuth 2.0's "scope") or an array of strings
	// (Okta's "scp", Auth0's "permissions"). Values that are not a
	// platform.Scope ("openid", "email") are ignored. Default "scope".
	ScopesClaim string
	// DefaultScopes are granted to every accepted token besides those of
	// ScopesClaim, for issuers whose tokens carry none (GitHub Actions).
	// Default none.
	DefaultScopes []platform.Scope
}

// withDefaults returns m with the defaults of its empty fields.
func (m Mapping) withDefaults() Mapping {
	if m.NamespaceClaim == "" {
		m.NamespaceClaim = DefaultNamespaceClaim
	}
	if m.ScopesClaim == "" {
		m.ScopesClaim = DefaultScopesClaim
	}
	return m
}

// The defaults of Mapping.
const (
	DefaultNamespaceClaim = "ossa_namespace"
	DefaultScopesClaim    = "scope"
)

// MapClaims makes the principal of a token whose payload (a JSON object)
// has been verified, issued by issuer: its Subject is the issuer and the
// sub claim joined by "#", as two issuers may name different callers
// alike. A payload without sub, without a valid namespace, or whose
// mapped claims are of the wrong type is EUNAUTHORIZED, with a message
// naming the claim but never repeating its value.
func (m Mapping) MapClaims(issuer string, payload []byte) (*platform.Principal, error) {
	m = m.withDefaults()
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token's payload is not a JSON object")
	}
	var sub string
	if raw, ok := claims["sub"]; !ok || json.Unmarshal(raw, &sub) != nil || sub == "" {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token has no sub claim (a non-empty string)")
	}
	own, err := claimStrings(claims, m.NamespaceClaim, false)
	if err != nil {
		return nil, err
	}
	if own == nil {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token has no namespace: it lacks the claim %q", m.NamespaceClaim)
	}
	seen := m.namespaces(own, false)
	if len(seen) == 0 {
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token has no namespace: its claim %q holds no valid namespace (%s)", m.NamespaceClaim, m.wantNamespace())
	}
	p := &platform.Principal{Kind: platform.PrincipalOIDC, Subject: issuer + "#" + sub, Namespace: seen[0], Namespaces: seen}
	if m.NamespacesClaim != "" {
		more, err := claimStrings(claims, m.NamespacesClaim, false)
		if err != nil {
			return nil, err
		}
		for _, ns := range m.namespaces(more, true) {
			if !slices.Contains(p.Namespaces, ns) {
				p.Namespaces = append(p.Namespaces, ns)
			}
		}
	}
	scopes, err := claimStrings(claims, m.ScopesClaim, true)
	if err != nil {
		return nil, err
	}
	for _, s := range append(scopes, scopeStrings(m.DefaultScopes)...) {
		if sc := platform.Scope(s); sc.Valid() && !slices.Contains(p.Scopes, sc) {
			p.Scopes = append(p.Scopes, sc)
		}
	}
	if err := p.Validate(); err != nil {
		// Unreachable by construction; kept so that a principal this
		// package makes is never one the gateway cannot use.
		return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token's claims make no valid principal: %v", err)
	}
	return p, nil
}

// namespaces returns the values of vals that name a namespace once the
// prefix is cut, in order and without repeats; with all, "*" stands for
// every namespace.
func (m Mapping) namespaces(vals []string, all bool) []string {
	var out []string
	for _, v := range vals {
		ns, ok := strings.CutPrefix(v, m.NamespacePrefix)
		if !ok || !(platform.ValidNamespace(ns) || all && ns == platform.AllNamespaces) || slices.Contains(out, ns) {
			continue
		}
		out = append(out, ns)
	}
	return out
}

func (m Mapping) wantNamespace() string {
	if m.NamespacePrefix == "" {
		return "a DNS-1123 label"
	}
	return "a DNS-1123 label after the prefix " + strconv.Quote(m.NamespacePrefix)
}

// claimStrings reads claim name as a list of strings: nil when it is absent
// or null, one value for a string (split on spaces when split), each value
// of an array of strings. Any other type is EUNAUTHORIZED.
func claimStrings(claims map[string]json.RawMessage, name string, split bool) ([]string, error) {
	raw, ok := claims[name]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if split {
			return strings.Fields(s), nil
		}
		return []string{s}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list, nil
	}
	return nil, platform.Errorf(platform.EUNAUTHORIZED, "the token's claim %q is neither a string nor an array of strings", name)
}

func scopeStrings(scopes []platform.Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

// header is what Verify reads of a token before checking it: the JOSE
// header of a compact JWS.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// parseHeader reads the header of a compact JWS (three base64url parts
// joined by dots), so that a token that could never verify is refused
// with the reason before any key is looked for. It checks only the
// form; the library parses the token again, strictly, to verify it.
func parseHeader(raw string) (header, error) {
	var h header
	switch n := strings.Count(raw, "."); {
	case n == 4:
		return h, platform.Errorf(platform.EUNAUTHORIZED, "the token is encrypted (JWE); only signed tokens (JWS) are accepted")
	case n != 2:
		return h, platform.Errorf(platform.EUNAUTHORIZED, "the token is not a JWT: want three base64url parts joined by dots")
	}
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return h, platform.Errorf(platform.EUNAUTHORIZED, "the token's header is not base64url")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, platform.Errorf(platform.EUNAUTHORIZED, "the token's header is not a JSON object with a string alg")
	}
	if h.Alg == "" {
		return h, platform.Errorf(platform.EUNAUTHORIZED, "the token's header names no alg")
	}
	return h, nil
}
