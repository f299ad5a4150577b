package platform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"
)

// APIKey is a key that callers authenticate with, as "Authorization:
// Bearer <key>". The key itself is shown once, when it is made; stores
// keep only its SHA-256 and its prefix, which finds the record. A key is
// 160 random bits of which the prefix shows none: hashing it once is
// enough, as no one guesses such a key from its hash.
type APIKey struct {
	// ID identifies the key in the API (revoking, listing).
	ID string `json:"id"`
	// Name says what the key is for ("ci", "grafana"); optional.
	Name string `json:"name,omitempty"`
	// Namespace is the namespace the key acts in.
	Namespace string `json:"namespace"`
	// Namespaces are the namespaces the key sees: Namespace, or every one
	// (AllNamespaces) for an admin key.
	Namespaces []string `json:"namespaces"`
	// Scopes are the key's rights.
	Scopes []Scope `json:"scopes"`
	// Prefix is the key's first characters ("ossa_k7f3q9..."), unique: how
	// a request's key is found, and how people tell keys apart.
	Prefix string `json:"prefix"`
	// Hash is the SHA-256 of the whole key. Never shown.
	Hash []byte `json:"-"`
	// CreatedBy is the principal that made the key ("api_key:ID",
	// "bootstrap").
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateKey stores k, setting its ID and CreatedAt. A Prefix taken
	// already is ECONFLICT.
	CreateKey(ctx context.Context, k *APIKey) error
	// CreateFirstKey stores k as CreateKey does, but only if the store
	// holds no key at all, in one transaction: when several gateways
	// start at once on one database, one makes the first key. It reports
	// whether it stored k.
	CreateFirstKey(ctx context.Context, k *APIKey) (bool, error)
	// FindKeyByPrefix returns the key with that prefix, revoked and
	// expired ones too (the caller judges), in any namespace: the lookup
	// of authentication. None is ENOTFOUND.
	FindKeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// ListKeys returns the keys of a namespace (AllNamespaces: of every
	// one) in ID order, revoked ones too.
	ListKeys(ctx context.Context, namespace string) ([]*APIKey, error)
	// RevokeKey marks the key with that ID in that namespace (or in any,
	// for AllNamespaces) revoked at the store's time and returns it; a key
	// revoked already keeps its time. Another namespace's key, or none, is
	// ENOTFOUND.
	RevokeKey(ctx context.Context, namespace, id string) (*APIKey, error)
	// TouchKeys records when keys were last used, by ID; unknown IDs are
	// ignored.
	TouchKeys(ctx context.Context, used map[string]time.Time) error
}

// APIKeyPrefix is how every API key starts; a bearer token that does not
// is something else (an OpenID Connect token).
const APIKeyPrefix = "ossa_"

// apiKeyLookup is how many characters of a key, after APIKeyPrefix, its
// stored prefix holds: 16 base32 characters, 80 bits, unique in practice
// and checked unique by the store.
const apiKeyLookup = 16

// apiKeyEncoding writes keys in lower-case base32 without padding: no
// character a shell, a URL or a header treats specially.
var apiKeyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAPIKeySecret returns a new random key, its prefix and its hash: the
// key to show once, and what to store.
func NewAPIKeySecret() (key, prefix string, hash []byte) {
	b := make([]byte, 20+apiKeyLookup*5/8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	key = APIKeyPrefix + apiKeyEncoding.EncodeToString(b)
	prefix, _ = APIKeyLookup(key)
	return key, prefix, HashAPIKey(key)
}

// APIKeyLookup returns the prefix that finds key's record, and whether key
// has the shape of an API key at all.
func APIKeyLookup(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, APIKeyPrefix)
	if !ok || len(rest) != 48 {
		return "", false
	}
	if _, err := apiKeyEncoding.DecodeString(rest); err != nil {
		return "", false
	}
	return key[:len(APIKeyPrefix)+apiKeyLookup], true
}

// HashAPIKey is the hash stores keep of key.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Usable reports why k cannot authenticate at t, or nil: revoked or
// expired, as EUNAUTHORIZED.
func (k *APIKey) Usable(t time.Time) error {
	switch {
	case k.RevokedAt != nil:
		return Errorf(EUNAUTHORIZED, "the API key %s was revoked", k.Prefix)
	case k.ExpiresAt != nil && !t.Before(*k.ExpiresAt):
		return Errorf(EUNAUTHORIZED, "the API key %s expired at %s", k.Prefix, k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Principal is the principal k authenticates.
func (k *APIKey) Principal() *Principal {
	return &Principal{Kind: PrincipalAPIKey, Subject: k.ID, Namespace: k.Namespace,
		Namespaces: append([]string(nil), k.Namespaces...), Scopes: append([]Scope(nil), k.Scopes...)}
}

// Validate reports what makes k unstorable: its namespace, namespaces and
// scopes as a principal's, a name too long, an expiry not after now.
func (k *APIKey) Validate() error {
	var pr Problems
	if !ValidNamespace(k.Namespace) {
		pr.Add("namespace", "must be a DNS-1123 label, not %q", k.Namespace)
	}
	if len(k.Name) > 100 {
		pr.Add("name", "must be at most 100 characters")
	}
	if len(k.Scopes) == 0 {
		pr.Add("scopes", "must name at least one scope, of %s", QuoteList(AllScopes))
	}
	for i, s := range k.Scopes {
		if !s.Valid() {
			pr.Add("scopes/"+itoa(i), "must be one of %s, not %q", QuoteList(AllScopes), s)
		}
	}
	for i, ns := range k.Namespaces {
		if ns != AllNamespaces && !ValidNamespace(ns) {
			pr.Add("namespaces/"+itoa(i), "must be a DNS-1123 label or %q, not %q", AllNamespaces, ns)
		}
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(time.Now()) {
		pr.Add("expires_at", "must be in the future")
	}
	return pr.Err("the API key is not valid")
}
