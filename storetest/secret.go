package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/ossa-platform/platform"
)

func sealed(ns, name, keyID, ciphertext string) *platform.SealedSecret {
	return &platform.SealedSecret{Secret: platform.Secret{Namespace: ns, Name: name, KeyID: keyID}, Ciphertext: []byte(ciphertext)}
}

func putSecret(t *testing.T, s Store, sec *platform.SealedSecret) bool {
	t.Helper()
	created, err := s.PutSecret(context.Background(), sec)
	if err != nil {
		t.Fatalf("PutSecret(%s/%s): %v", sec.Namespace, sec.Name, err)
	}
	return created
}

func secretNames(page platform.SecretPage) string {
	var out []string
	for _, s := range page.Items {
		out = append(out, s.Namespace+"/"+s.Name+"@"+s.KeyID)
	}
	return fmt.Sprint(out, page.More)
}

func runSecrets(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("PutFindReplace", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := sealed("team-a", "billing-token", "k1", "\x01sealed-one")
		if !putSecret(t, s, first) {
			t.Fatal("a new secret was not reported created")
		}
		if first.CreatedAt.IsZero() || !first.UpdatedAt.Equal(first.CreatedAt) {
			t.Fatalf("times of a new secret: %v, %v", first.CreatedAt, first.UpdatedAt)
		}
		got, err := s.FindSecret(ctx, "team-a", "billing-token")
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyID != "k1" || !bytes.Equal(got.Ciphertext, first.Ciphertext) || !got.CreatedAt.Equal(first.CreatedAt) ||
			got.Namespace != "team-a" || got.Name != "billing-token" {
			t.Fatalf("found %+v, want %+v", got, first)
		}
		// Bytes that are not text survive.
		second := sealed("team-a", "billing-token", "k2", "\x00\xff\x01binary")
		if putSecret(t, s, second) {
			t.Fatal("a replaced secret was reported created")
		}
		if !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.After(first.UpdatedAt) {
			t.Fatalf("replaced: created %v (want %v), updated %v (want after %v)", second.CreatedAt, first.CreatedAt, second.UpdatedAt, first.UpdatedAt)
		}
		got, err = s.FindSecret(ctx, "team-a", "billing-token")
		if err != nil || got.KeyID != "k2" || !bytes.Equal(got.Ciphertext, second.Ciphertext) || !got.UpdatedAt.Equal(second.UpdatedAt) {
			t.Fatalf("after replacing: %+v, %v", got, err)
		}
	})

	t.Run("NamesPerNamespace", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		putSecret(t, s, sealed("team-a", "token", "k1", "a"))
		if !putSecret(t, s, sealed("team-b", "token", "k1", "b")) {
			t.Fatal("the same name in another namespace is not a secret of its own")
		}
		if err := s.DeleteSecret(ctx, "team-a", "token"); err != nil {
			t.Fatal(err)
		}
		_, err := s.FindSecret(ctx, "team-a", "token")
		wantCode(t, err, platform.ENOTFOUND)
		got, err := s.FindSecret(ctx, "team-b", "token")
		if err != nil || string(got.Ciphertext) != "b" {
			t.Fatalf("team-b's secret after team-a's was deleted: %+v, %v", got, err)
		}
		wantCode(t, s.DeleteSecret(ctx, "team-a", "token"), platform.ENOTFOUND)
		wantCode(t, s.DeleteSecret(ctx, "team-c", "token"), platform.ENOTFOUND)
		_, err = s.FindSecret(ctx, "team-b", "other")
		wantCode(t, err, platform.ENOTFOUND)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, bad := range []*platform.SealedSecret{
			sealed("team-a", "Not_A_Name", "k1", "x"),
			sealed("", "token", "k1", "x"),
			sealed("team-a", "token", "", "x"),
			sealed("team-a", "token", "k1", ""),
		} {
			_, err := s.PutSecret(ctx, bad)
			wantCode(t, err, platform.EINVALID)
		}
		page, err := s.ListSecrets(ctx, platform.SecretFilter{Namespace: platform.AllNamespaces, Limit: 10})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("after invalid puts: %s, %v", secretNames(page), err)
		}
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, sec := range []*platform.SealedSecret{
			sealed("team-b", "c", "k2", "x"), sealed("team-a", "b-1", "k1", "x"), sealed("team-a", "a", "k2", "x"),
			sealed("team-a", "b", "k1", "x"), sealed("team-b", "a", "k1", "x"),
		} {
			putSecret(t, s, sec)
		}
		list := func(f platform.SecretFilter) string {
			t.Helper()
			page, err := s.ListSecrets(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				if it.CreatedAt.IsZero() || it.UpdatedAt.IsZero() {
					t.Fatalf("listed without times: %+v", it)
				}
			}
			return secretNames(page)
		}
		for _, tc := range []struct {
			f    platform.SecretFilter
			want string
		}{
			{platform.SecretFilter{Namespace: "team-a", Limit: 10}, "[team-a/a@k2 team-a/b@k1 team-a/b-1@k1] false"},
			{platform.SecretFilter{Namespace: "team-a", Limit: 2}, "[team-a/a@k2 team-a/b@k1] true"},
			{platform.SecretFilter{Namespace: "team-a", AfterName: "b", Limit: 2}, "[team-a/b-1@k1] false"},
			{platform.SecretFilter{Namespace: "team-c", Limit: 10}, "[] false"},
			{platform.SecretFilter{Namespace: platform.AllNamespaces, Limit: 10},
				"[team-a/a@k2 team-a/b@k1 team-a/b-1@k1 team-b/a@k1 team-b/c@k2] false"},
			{platform.SecretFilter{Namespace: platform.AllNamespaces, AfterNamespace: "team-a", AfterName: "b-1", Limit: 1},
				"[team-b/a@k1] true"},
			{platform.SecretFilter{Namespace: platform.AllNamespaces, NotKeyID: "k1", Limit: 10}, "[team-a/a@k2 team-b/c@k2] false"},
			{platform.SecretFilter{Namespace: platform.AllNamespaces, NotKeyID: "k2", AfterNamespace: "team-a", AfterName: "b", Limit: 10},
				"[team-a/b-1@k1 team-b/a@k1] false"},
		} {
			if got := list(tc.f); got != tc.want {
				t.Errorf("ListSecrets(%+v) = %s, want %s", tc.f, got, tc.want)
			}
		}
	})

	t.Run("Reseal", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		orig := sealed("team-a", "token", "k1", "old")
		putSecret(t, s, orig)
		ok, err := s.ResealSecret(ctx, "team-a", "token", []byte("stale"), "k2", []byte("new"))
		if err != nil || ok {
			t.Fatalf("reseal from a stale value: %v, %v; want false", ok, err)
		}
		ok, err = s.ResealSecret(ctx, "team-a", "gone", []byte("old"), "k2", []byte("new"))
		if err != nil || ok {
			t.Fatalf("reseal of a missing secret: %v, %v; want false", ok, err)
		}
		got, _ := s.FindSecret(ctx, "team-a", "token")
		if got.KeyID != "k1" || string(got.Ciphertext) != "old" {
			t.Fatalf("a refused reseal changed the secret: %+v", got)
		}
		ok, err = s.ResealSecret(ctx, "team-a", "token", []byte("old"), "k2", []byte("new"))
		if err != nil || !ok {
			t.Fatalf("reseal: %v, %v; want true", ok, err)
		}
		got, _ = s.FindSecret(ctx, "team-a", "token")
		if got.KeyID != "k2" || string(got.Ciphertext) != "new" || !got.UpdatedAt.Equal(orig.UpdatedAt) || !got.CreatedAt.Equal(orig.CreatedAt) {
			t.Fatalf("after reseal: %+v; want k2, new, times unchanged (%v)", got, orig.UpdatedAt)
		}
	})
}

// runAgentAuth: an agent's auth is stored, read, listed, replaced and
// cleared.
func runAgentAuth(t *testing.T, newStore func(t *testing.T) Store) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	a := NewAgent("billing")
	a.Auth = &platform.AgentAuth{Header: "Authorization", Scheme: "Bearer", Secret: "billing-token"}
	create(t, s, a)
	plain := create(t, s, NewAgent("plain"))
	got, err := s.FindAgent(ctx, platform.DefaultNamespace, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if got.Auth == nil || *got.Auth != *a.Auth {
		t.Fatalf("found auth %+v, want %+v", got.Auth, a.Auth)
	}
	if p, _ := s.FindAgent(ctx, platform.DefaultNamespace, plain.Name); p.Auth != nil {
		t.Fatalf("an agent without auth reads back with %+v", p.Auth)
	}
	page, err := s.ListAgents(ctx, platform.AgentFilter{Namespace: platform.DefaultNamespace, Limit: 10})
	if err != nil || len(page.Items) != 2 || page.Items[0].Auth == nil || *page.Items[0].Auth != *a.Auth || page.Items[1].Auth != nil {
		t.Fatalf("listed: %+v, %v", page.Items, err)
	}
	updated, err := s.UpdateAgent(ctx, platform.DefaultNamespace, "billing", func(a *platform.Agent) error {
		a.Auth = &platform.AgentAuth{Header: "X-Api-Key", Secret: "other"}
		return nil
	})
	if err != nil || updated.Auth.Header != "X-Api-Key" {
		t.Fatalf("update: %+v, %v", updated, err)
	}
	got, _ = s.FindAgent(ctx, platform.DefaultNamespace, "billing")
	if got.Auth == nil || *got.Auth != (platform.AgentAuth{Header: "X-Api-Key", Secret: "other"}) {
		t.Fatalf("after update: %+v", got.Auth)
	}
	if _, err := s.UpdateAgent(ctx, platform.DefaultNamespace, "billing", func(a *platform.Agent) error { a.Auth = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.FindAgent(ctx, platform.DefaultNamespace, "billing"); got.Auth != nil {
		t.Fatalf("after clearing: %+v", got.Auth)
	}
}
