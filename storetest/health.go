package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runAgentHealth checks agents' protocol and health: the protocol is the
// caller's like any field, the health only SetAgentHealth's, and recording
// health is not an edit of the agent.
func runAgentHealth(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := NewAgent("plain")
		// Health is read-only: what a caller sends is not stored.
		checked := time.Now()
		a.Health = platform.AgentHealth{Status: platform.HealthHealthy, Reason: "trust me", CheckedAt: &checked}
		a.Normalize()
		if err := s.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		want := platform.AgentHealth{Status: platform.HealthUnknown}
		if a.Protocol != platform.ProtocolHTTP || !sameHealth(a.Health, want) {
			t.Fatalf("created with protocol %q, health %+v; want %q, %+v", a.Protocol, a.Health, platform.ProtocolHTTP, want)
		}
		got, err := s.FindAgent(ctx, ns, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Protocol != platform.ProtocolHTTP || !sameHealth(got.Health, want) {
			t.Fatalf("found protocol %q, health %+v; want %q, %+v", got.Protocol, got.Health, platform.ProtocolHTTP, want)
		}
	})

	t.Run("Protocol", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := NewAgent("speaker")
		a.Protocol = platform.ProtocolA2A
		create(t, s, a)
		got, err := s.FindAgent(ctx, ns, a.Name)
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, got, a)
		page, err := s.ListAgents(ctx, platform.AgentFilter{Namespace: ns, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].Protocol != platform.ProtocolA2A {
			t.Fatalf("listed %+v, want protocol %q", page.Items, platform.ProtocolA2A)
		}
		updated, err := s.UpdateAgent(ctx, ns, a.ID, func(u *platform.Agent) error { u.Protocol = platform.ProtocolHTTP; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if got, err = s.FindAgent(ctx, ns, a.ID); err != nil {
			t.Fatal(err)
		}
		if got.Protocol != platform.ProtocolHTTP {
			t.Fatalf("protocol after update = %q", got.Protocol)
		}
		assertSame(t, got, updated)
	})

	t.Run("SetHealth", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := create(t, s, NewAgent("probed"))
		checked := time.Now().Add(-time.Minute)
		h := platform.AgentHealth{Status: platform.HealthUnhealthy, Reason: "connection refused", CheckedAt: &checked}
		if err := s.SetAgentHealth(ctx, a.ID, h); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindAgent(ctx, ns, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameHealth(got.Health, h) {
			t.Fatalf("health = %+v, want %+v", got.Health, h)
		}
		if !got.UpdatedAt.Equal(a.UpdatedAt) {
			t.Fatalf("SetAgentHealth moved updated_at from %v to %v", a.UpdatedAt, got.UpdatedAt)
		}
		page, err := s.ListAgents(ctx, platform.AgentFilter{Namespace: ns, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || !sameHealth(page.Items[0].Health, h) {
			t.Fatalf("listed %+v, want health %+v", page.Items, h)
		}

		// Healthy again: the reason goes with the failure.
		h = platform.AgentHealth{Status: platform.HealthHealthy, CheckedAt: &checked}
		if err := s.SetAgentHealth(ctx, a.ID, h); err != nil {
			t.Fatal(err)
		}
		if got, err = s.FindAgent(ctx, ns, a.ID); err != nil {
			t.Fatal(err)
		}
		if !sameHealth(got.Health, h) {
			t.Fatalf("health = %+v, want %+v", got.Health, h)
		}

		// An update, even one that tries, leaves health alone.
		updated, err := s.UpdateAgent(ctx, ns, a.ID, func(u *platform.Agent) error {
			u.Description = "edited"
			u.Health = platform.AgentHealth{Status: platform.HealthUnhealthy, Reason: "forged"}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !sameHealth(updated.Health, h) {
			t.Fatalf("UpdateAgent returned health %+v, want %+v", updated.Health, h)
		}
		if got, err = s.FindAgent(ctx, ns, a.ID); err != nil {
			t.Fatal(err)
		}
		if !sameHealth(got.Health, h) || got.Description != "edited" {
			t.Fatalf("after update: health %+v, description %q", got.Health, got.Description)
		}
	})

	t.Run("SetHealthNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := create(t, s, NewAgent("present"))
		h := platform.AgentHealth{Status: platform.HealthHealthy}
		wantCode(t, s.SetAgentHealth(ctx, "0190b1b2-0000-7000-8000-000000000000", h), platform.ENOTFOUND)
		wantCode(t, s.SetAgentHealth(ctx, "not-an-id", h), platform.ENOTFOUND)
		// By ID only: a name is not an ID.
		wantCode(t, s.SetAgentHealth(ctx, a.Name, h), platform.ENOTFOUND)
	})
}

// sameHealth compares health to the microsecond.
func sameHealth(got, want platform.AgentHealth) bool {
	return got.Status == want.Status && got.Reason == want.Reason && sameTime(got.CheckedAt, want.CheckedAt)
}

// sameTime compares optional times to the microsecond.
func sameTime(got, want *time.Time) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return got.Truncate(time.Microsecond).Equal(want.Truncate(time.Microsecond))
}
