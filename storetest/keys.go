package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// newKey returns an unsaved key of namespace ns with a fresh secret, and
// the secret.
func newKey(ns string, scopes ...platform.Scope) (*platform.APIKey, string) {
	secret, prefix, hash := platform.NewAPIKeySecret()
	return &platform.APIKey{Name: "test", Namespace: ns, Namespaces: []string{ns}, Scopes: scopes,
		Prefix: prefix, Hash: hash, CreatedBy: "storetest"}, secret
}

// runKeys checks the KeyStore: what is stored is found by its prefix in
// any namespace, listed and revoked only within its namespace, and the
// first key is made once however many ask at once.
func runKeys(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("CreateFindList", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k, secret := newKey("team-a", platform.ScopeAgentsRead, platform.ScopeRunsWrite)
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &exp
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if k.ID == "" || k.CreatedAt.IsZero() {
			t.Fatalf("CreateKey set ID %q, CreatedAt %v", k.ID, k.CreatedAt)
		}
		prefix, ok := platform.APIKeyLookup(secret)
		if !ok || prefix != k.Prefix {
			t.Fatalf("APIKeyLookup(%q) = %q, %v; stored prefix %q", secret, prefix, ok, k.Prefix)
		}
		got, err := s.FindKeyByPrefix(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != k.ID || got.Namespace != "team-a" || !bytes.Equal(got.Hash, platform.HashAPIKey(secret)) ||
			len(got.Scopes) != 2 || got.Scopes[1] != platform.ScopeRunsWrite || len(got.Namespaces) != 1 ||
			got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.RevokedAt != nil || got.LastUsedAt != nil ||
			!got.CreatedAt.Equal(k.CreatedAt) || got.CreatedBy != "storetest" || got.Name != "test" {
			t.Fatalf("FindKeyByPrefix = %+v, stored %+v", got, k)
		}
		if _, err := s.FindKeyByPrefix(ctx, "ossa_nope"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("FindKeyByPrefix of no key: %v, want not_found", err)
		}
		// The same prefix twice is a conflict, and the first stays.
		dup, _ := newKey("team-b", platform.ScopeAdmin)
		dup.Prefix = k.Prefix
		if err := s.CreateKey(ctx, dup); platform.ErrorCode(err) != platform.ECONFLICT {
			t.Fatalf("a second key with prefix %s: %v, want conflict", k.Prefix, err)
		}
		other, _ := newKey("team-b", platform.ScopeAdmin)
		other.Namespaces = []string{platform.AllNamespaces}
		if err := s.CreateKey(ctx, other); err != nil {
			t.Fatal(err)
		}
		for ns, want := range map[string][]string{"team-a": {k.ID}, "team-b": {other.ID}, "team-c": {},
			platform.AllNamespaces: {k.ID, other.ID}} {
			keys, err := s.ListKeys(ctx, ns)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.ID)
			}
			if len(ids) != len(want) || (len(want) > 0 && (ids[0] != want[0] || ids[len(ids)-1] != want[len(want)-1])) {
				t.Errorf("ListKeys(%q) = %v, want %v", ns, ids, want)
			}
		}
		if keys, _ := s.ListKeys(ctx, "team-b"); len(keys) == 1 && (len(keys[0].Namespaces) != 1 || keys[0].Namespaces[0] != platform.AllNamespaces) {
			t.Errorf("an admin key's namespaces read back as %v", keys[0].Namespaces)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k, _ := newKey("team-a", platform.ScopeAgentsRead)
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		// Not from another namespace, and not a key that does not exist.
		for _, c := range [][2]string{{"team-b", k.ID}, {"team-a", "0190b1b2-0000-7000-8000-000000000000"}, {"team-a", "nope"}} {
			if _, err := s.RevokeKey(ctx, c[0], c[1]); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Errorf("RevokeKey(%q, %q): %v, want not_found", c[0], c[1], err)
			}
		}
		if got, _ := s.FindKeyByPrefix(ctx, k.Prefix); got.RevokedAt != nil {
			t.Fatal("a refused revocation revoked the key")
		}
		r, err := s.RevokeKey(ctx, "team-a", k.ID)
		if err != nil || r.RevokedAt == nil || r.ID != k.ID {
			t.Fatalf("RevokeKey = %+v, %v", r, err)
		}
		again, err := s.RevokeKey(ctx, "team-a", k.ID)
		if err != nil || again.RevokedAt == nil || !again.RevokedAt.Equal(*r.RevokedAt) {
			t.Fatalf("revoking again = %+v, %v; want the first time %v kept", again, err, r.RevokedAt)
		}
		if got, _ := s.FindKeyByPrefix(ctx, k.Prefix); got.RevokedAt == nil || got.Usable(time.Now()) == nil {
			t.Fatalf("a revoked key reads back as %+v, usable", got)
		}
		// Making and revoking are audited with the change; a refused
		// revocation is not.
		for action, want := range map[string]int{platform.AuditKeyCreate: 1, platform.AuditKeyRevoke: 1} {
			page, err := s.ListAudit(ctx, platform.AuditFilter{Action: action, Namespaces: []string{"team-a"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != want || page.Items[0].Target.ID != k.ID {
				t.Errorf("audit records of %s: %+v, want %d of key %s", action, page.Items, want, k.ID)
			}
		}
		// Every namespace's, for an admin that sees them all.
		k2, _ := newKey("team-b", platform.ScopeAgentsRead)
		if err := s.CreateKey(ctx, k2); err != nil {
			t.Fatal(err)
		}
		if r, err := s.RevokeKey(ctx, platform.AllNamespaces, k2.ID); err != nil || r.RevokedAt == nil || r.Namespace != "team-b" {
			t.Fatalf("RevokeKey(%q) = %+v, %v", platform.AllNamespaces, r, err)
		}
	})

	t.Run("Touch", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		k, _ := newKey("team-a", platform.ScopeAgentsRead)
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
		if err := s.TouchKeys(ctx, map[string]time.Time{k.ID: later, "0190b1b2-0000-7000-8000-000000000000": later, "nope": later}); err != nil {
			t.Fatal(err)
		}
		// An older use, reported late, does not move it back.
		if err := s.TouchKeys(ctx, map[string]time.Time{k.ID: later.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchKeys(ctx, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindKeyByPrefix(ctx, k.Prefix)
		if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(later) {
			t.Fatalf("last used %v, %v; want %v", got.LastUsedAt, err, later)
		}
	})

	t.Run("FirstKeyOnce", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const n = 8
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			stored int
		)
		for range n {
			wg.Go(func() {
				k, _ := newKey("default", platform.ScopeAdmin)
				ok, err := s.CreateFirstKey(ctx, k)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					stored++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		keys, err := s.ListKeys(ctx, platform.AllNamespaces)
		if err != nil {
			t.Fatal(err)
		}
		if stored != 1 || len(keys) != 1 {
			t.Fatalf("%d callers at once stored %d first keys; the store holds %d", n, stored, len(keys))
		}
		k, _ := newKey("default", platform.ScopeAdmin)
		if ok, err := s.CreateFirstKey(ctx, k); ok || err != nil {
			t.Fatalf("CreateFirstKey with a key stored = %v, %v", ok, err)
		}
	})
}
