package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

// runAllNamespaces checks platform.AllNamespaces where a store takes it,
// for the work that belongs to no caller (health probes, metrics): agents
// and unfinished runs of every namespace, while one namespace still
// selects its own alone and "" selects nothing.
func runAllNamespaces(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("ListAgents", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var want []string
		for _, c := range []struct{ ns, name string }{{"default", "echo"}, {"team-a", "echo"}, {"team-b", "solo"}, {"team-a", "idle"}} {
			a := NewAgent(c.name)
			a.Namespace = c.ns
			if c.name == "idle" {
				a.Status = platform.AgentInactive
			}
			create(t, s, a)
			want = append(want, a.ID)
		}
		ids := func(f platform.AgentFilter) []string {
			t.Helper()
			var out []string
			for {
				page, err := s.ListAgents(ctx, f)
				if err != nil {
					t.Fatalf("ListAgents(%+v): %v", f, err)
				}
				for _, a := range page.Items {
					out = append(out, a.ID)
				}
				if page.Next == "" {
					return out
				}
				f.After = page.Next
			}
		}
		all := platform.AgentFilter{Namespace: platform.AllNamespaces, Limit: 1}
		if got := ids(all); !slices.Equal(got, want) {
			t.Fatalf("every namespace, a page of one at a time: %v, want %v", got, want)
		}
		all.Status, all.Limit = platform.AgentActive, 10
		if got := ids(all); !slices.Equal(got, want[:3]) {
			t.Fatalf("the active agents of every namespace: %v, want %v", got, want[:3])
		}
		if got := ids(platform.AgentFilter{Namespace: "team-a", Limit: 10}); !slices.Equal(got, []string{want[1], want[3]}) {
			t.Fatalf("team-a: %v, want %v", got, []string{want[1], want[3]})
		}
		if got := ids(platform.AgentFilter{Limit: 10}); len(got) != 0 {
			t.Fatalf("no namespace selects nothing, got %v", got)
		}
	})

	t.Run("CountRuns", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var runs []*platform.Run
		for _, ns := range []string{"team-a", "default", "team-b", "team-b"} {
			r := NewRun("digest")
			r.Namespace = ns
			runs = append(runs, createRun(t, s, r))
		}
		if _, err := s.AcquireRun(ctx, runs[0].ID, "x", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := s.CountRuns(ctx, platform.AllNamespaces)
		if err != nil {
			t.Fatal(err)
		}
		if want := (platform.RunCounts{Queued: 3, Running: 1, OldestQueued: runs[1].CreatedAt}); !sameCounts(got, want) {
			t.Fatalf("every namespace: %+v, want %+v", got, want)
		}
		got, err = s.CountRuns(ctx, "team-b")
		if err != nil {
			t.Fatal(err)
		}
		if want := (platform.RunCounts{Queued: 2, OldestQueued: runs[2].CreatedAt}); !sameCounts(got, want) {
			t.Fatalf("team-b: %+v, want %+v", got, want)
		}
		for _, r := range runs[1:] {
			if _, err := s.CancelRun(ctx, r.Namespace, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		got, err = s.CountRuns(ctx, platform.AllNamespaces)
		if err != nil {
			t.Fatal(err)
		}
		if want := (platform.RunCounts{Running: 1}); !sameCounts(got, want) {
			t.Fatalf("every namespace, none queued: %+v, want %+v", got, want)
		}
	})
}
