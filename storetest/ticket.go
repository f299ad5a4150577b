package storetest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runTickets checks the TicketStore: a ticket is redeemed once, with the
// principal it was made for, and never after it expired, however many
// ask for it at once.
func runTickets(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	maker := &platform.Principal{Kind: platform.PrincipalAPIKey, Subject: "key-1", Namespace: "team-a",
		Namespaces: []string{"team-a", "team-b"}, Scopes: []platform.Scope{platform.ScopeRunsRead, platform.ScopeAgentsWrite}}
	// stored stores a ticket made at now and returns it and its secret.
	stored := func(t *testing.T, s Store, now time.Time) (*platform.EventTicket, string) {
		t.Helper()
		tk, secret, err := platform.NewEventTicket(maker, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
		return tk, secret
	}

	t.Run("RedeemOnce", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		now := time.Now()
		tk, secret := stored(t, s, now)
		if !platform.ValidEventTicket(secret) {
			t.Fatalf("NewEventTicket made %q, which ValidEventTicket refuses", secret)
		}
		got, err := s.RedeemTicket(ctx, platform.HashAPIKey(secret), now)
		if err != nil {
			t.Fatal(err)
		}
		p := got.Principal
		if p.Kind != maker.Kind || p.Subject != "key-1" || p.Namespace != "team-a" ||
			!slices.Equal(p.Namespaces, maker.Namespaces) || !slices.Equal(p.Scopes, []platform.Scope{platform.ScopeRunsRead}) ||
			!got.ExpiresAt.Equal(tk.ExpiresAt.Truncate(time.Microsecond)) {
			t.Fatalf("RedeemTicket = %+v, made %+v", got, tk)
		}
		if _, err := s.RedeemTicket(ctx, platform.HashAPIKey(secret), now); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("a ticket redeemed twice: %v, want not_found", err)
		}
		if _, err := s.RedeemTicket(ctx, platform.HashAPIKey("ossat_never"), now); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("a ticket never made: %v, want not_found", err)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		now := time.Now()
		tk, secret := stored(t, s, now)
		if _, err := s.RedeemTicket(ctx, platform.HashAPIKey(secret), tk.ExpiresAt); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("a ticket redeemed at its expiry: %v, want not_found", err)
		}
		// An expired ticket stays spent: it is not redeemed later at an
		// earlier time either, once a new ticket swept it away.
		_, secret2 := stored(t, s, now.Add(-time.Hour))
		stored(t, s, now)
		if _, err := s.RedeemTicket(ctx, platform.HashAPIKey(secret2), now.Add(-time.Hour)); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("an expired ticket after another was made: %v, want not_found (swept)", err)
		}
	})

	t.Run("Race", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		now := time.Now()
		_, secret := stored(t, s, now)
		var won, lost atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.RedeemTicket(ctx, platform.HashAPIKey(secret), now)
				switch {
				case err == nil:
					won.Add(1)
				case platform.ErrorCode(err) == platform.ENOTFOUND:
					lost.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 || lost.Load() != 7 {
			t.Fatalf("8 redeemed one ticket at once: %d won, %d lost; want 1 and 7", won.Load(), lost.Load())
		}
	})
}
