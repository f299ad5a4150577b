// Package storetest is the conformance suite every platform store passes,
// as every River driver passes riverdrivertest. A backend's test calls
// Run with a function that opens a fresh, empty, migrated store.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/sqlstore"
	"github.com/ossa-platform/platform/queue"
)

// Store is what a backend must provide to the suite.
type Store interface {
	platform.AgentStore
	platform.WorkflowStore
	platform.RunStore
	platform.RunLedger
	platform.EventStore
	platform.KeyStore
	platform.AuditStore
	platform.Database
	platform.SecretStore
	platform.TicketStore
	platform.AgentTextSearch
	// PendingRunJobs returns the run IDs of the run jobs in the store's
	// queue that are not finished, oldest first: the suite's way to see
	// that a run was really enqueued.
	PendingRunJobs(ctx context.Context) ([]string, error)
	// StartQueue starts executing runs with cfg.Executor until the store
	// closes.
	StartQueue(ctx context.Context, cfg queue.Config) error
	// Record runs fn as one change of the store's, through the recorder
	// all its changes record their events, jobs and audit records on: the suite's way to
	// see that what a change recorded commits with it, or not at all.
	Record(ctx context.Context, fn func(rec *sqlstore.Recorder) error) error
}

// Run runs the whole suite. newStore returns a fresh, empty store; it is
// called once per subtest and must register its own cleanup on t.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("Agents", func(t *testing.T) { runAgents(t, newStore) })
	t.Run("AgentHealth", func(t *testing.T) { runAgentHealth(t, newStore) })
	t.Run("Workflows", func(t *testing.T) { runWorkflows(t, newStore) })
	t.Run("Revisions", func(t *testing.T) { runRevisions(t, newStore) })
	t.Run("Runs", func(t *testing.T) { runRuns(t, newStore) })
	t.Run("Ledger", func(t *testing.T) { runLedger(t, newStore) })
	t.Run("Queue", func(t *testing.T) { runQueue(t, newStore) })
	t.Run("Prune", func(t *testing.T) { runPrune(t, newStore) })
	t.Run("Events", func(t *testing.T) { runEvents(t, newStore) })
	t.Run("EventNamespaces", func(t *testing.T) { runEventNamespaces(t, newStore) })
	t.Run("Recorder", func(t *testing.T) { runRecorder(t, newStore) })
	t.Run("Audit", func(t *testing.T) { runAudit(t, newStore) })
	t.Run("CountRuns", func(t *testing.T) { runCountRuns(t, newStore) })
	t.Run("RunEventData", func(t *testing.T) { runRunEventData(t, newStore) })
	t.Run("AllNamespaces", func(t *testing.T) { runAllNamespaces(t, newStore) })
	t.Run("Keys", func(t *testing.T) { runKeys(t, newStore) })
	t.Run("Secrets", func(t *testing.T) { runSecrets(t, newStore) })
	t.Run("Tickets", func(t *testing.T) { runTickets(t, newStore) })
	t.Run("TextSearch", func(t *testing.T) { runTextSearch(t, newStore) })
	t.Run("AgentAuth", func(t *testing.T) { runAgentAuth(t, newStore) })
	t.Run("Health", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := context.Background()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Ready(ctx); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		if b := s.Backend(); b != "sqlite" && b != "postgres" {
			t.Fatalf("Backend() = %q", b)
		}
	})
}

// NewAgent returns a valid agent named name for tests.
func NewAgent(name string) *platform.Agent {
	return &platform.Agent{
		Name:         name,
		Type:         platform.AgentWorker,
		Capabilities: []string{"summarize"},
		Endpoint:     "http://localhost:9001",
	}
}

// Manifests with what re-encoding would lose, for the round trips:
// comments, CRLF line ends, trailing spaces, key order, spacing, non-ASCII
// text, and bytes that are not text at all, since a store keeps bytes.
const (
	yamlManifest = "# registered by hand\r\napiVersion: ossa/v0.3.0   \r\nkind: Agent\r\nmetadata:\r\n" +
		"\tname: from-manifest # tab, not spaces\r\n  description: \"R\u00e9sum\u00e9 \u2014 \xff\x00\"\r\n"
	jsonManifest = `{ "kind":"Agent",   "apiVersion" : "ossa/v0.4.0",` + "\n\t" +
		`"metadata": {"name": "from-manifest", "z": 1.50, "a": 1e2} }` + "\n"
)

func create(t *testing.T, s Store, a *platform.Agent) *platform.Agent {
	t.Helper()
	a.Normalize()
	if err := a.Validate(); err != nil {
		t.Fatalf("test agent %s is not valid: %v", a.Name, err)
	}
	if err := s.CreateAgent(context.Background(), a); err != nil {
		t.Fatalf("CreateAgent(%s): %v", a.Name, err)
	}
	return a
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func runAgents(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	ns := platform.DefaultNamespace

	t.Run("CreateAndFind", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := NewAgent("summarizer")
		a.Description = "Summarizes text"
		a.Version = "1.2.3"
		a.Capabilities = []string{"summarize", "translate"}
		a.Labels = map[string]string{"team": "nlp", "tier": "gold"}
		a.Metadata = json.RawMessage(`{"model":"x","limits":{"rpm":60,"big":12345678901234567890}}`)
		before := time.Now().Add(-time.Second)
		create(t, s, a)
		if a.ID == "" {
			t.Fatal("CreateAgent did not set ID")
		}
		if a.CreatedAt.Before(before) || !a.UpdatedAt.Equal(a.CreatedAt) {
			t.Fatalf("timestamps: created %v updated %v", a.CreatedAt, a.UpdatedAt)
		}
		for _, ref := range []string{a.ID, a.Name} {
			got, err := s.FindAgent(ctx, ns, ref)
			if err != nil {
				t.Fatalf("FindAgent(%s): %v", ref, err)
			}
			assertSame(t, got, a)
		}
	})

	t.Run("Manifest", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := NewAgent("from-manifest")
		a.APIVersion = "ossa/v0.3.0"
		a.Manifest = &platform.ManifestSource{Format: "yaml", Body: []byte(yamlManifest)}
		create(t, s, a)
		for _, ref := range []string{a.ID, a.Name} {
			got, err := s.FindAgent(ctx, ns, ref)
			if err != nil {
				t.Fatalf("FindAgent(%s): %v", ref, err)
			}
			assertSame(t, got, a)
		}
		bare := create(t, s, NewAgent("bare"))
		page, err := s.ListAgents(ctx, platform.AgentFilter{Namespace: ns, Limit: platform.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 2 || page.Items[0].APIVersion != a.APIVersion || page.Items[1].APIVersion != "" {
			t.Fatalf("listed %v, want api versions %q and \"\"", page.Items, a.APIVersion)
		}

		// An update that leaves the manifest alone keeps it.
		got, err := s.UpdateAgent(ctx, ns, a.Name, func(u *platform.Agent) error { u.Description = "kept"; return nil })
		if err != nil {
			t.Fatal(err)
		}
		assertManifest(t, got.Manifest, a.Manifest)
		found, err := s.FindAgent(ctx, ns, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, found, got)

		// An update can replace it, JSON with its own spacing and key order.
		replacement := &platform.ManifestSource{Format: "json", Body: []byte(jsonManifest)}
		got, err = s.UpdateAgent(ctx, ns, a.ID, func(u *platform.Agent) error {
			u.APIVersion, u.Manifest = "ossa/v0.4.0", replacement
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		found, err = s.FindAgent(ctx, ns, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertManifest(t, found.Manifest, replacement)
		assertSame(t, found, got)

		// And clear it.
		got, err = s.UpdateAgent(ctx, ns, a.ID, func(u *platform.Agent) error {
			u.APIVersion, u.Manifest = "", nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		found, err = s.FindAgent(ctx, ns, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if found.Manifest != nil || found.APIVersion != "" {
			t.Fatalf("after clearing: api version %q, manifest %+v", found.APIVersion, found.Manifest)
		}
		assertSame(t, found, got)

		// An agent registered without a manifest can gain one, even an
		// empty one, which is still a manifest and not none.
		empty := &platform.ManifestSource{Format: "yaml", Body: []byte{}}
		if _, err := s.UpdateAgent(ctx, ns, bare.ID, func(u *platform.Agent) error { u.Manifest = empty; return nil }); err != nil {
			t.Fatal(err)
		}
		found, err = s.FindAgent(ctx, ns, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertManifest(t, found.Manifest, empty)
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		create(t, s, NewAgent("present"))
		_, err := s.FindAgent(ctx, ns, "absent")
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.FindAgent(ctx, ns, "0190b1b2-0000-7000-8000-000000000000")
		wantCode(t, err, platform.ENOTFOUND)
		_, err = s.FindAgent(ctx, "other", "present")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteAgent(ctx, ns, "absent"), platform.ENOTFOUND)
		_, err = s.UpdateAgent(ctx, ns, "absent", func(*platform.Agent) error { return nil })
		wantCode(t, err, platform.ENOTFOUND)
	})

	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		first := create(t, s, NewAgent("dup"))
		second := NewAgent("dup")
		second.Normalize()
		wantCode(t, s.CreateAgent(ctx, second), platform.ECONFLICT)
		// Another namespace may reuse the name.
		other := NewAgent("dup")
		other.Namespace = "other"
		create(t, s, other)
		// Renaming onto a taken name conflicts and changes nothing.
		create(t, s, NewAgent("renamed"))
		_, err := s.UpdateAgent(ctx, ns, "renamed", func(a *platform.Agent) error { a.Name = "dup"; return nil })
		wantCode(t, err, platform.ECONFLICT)
		got, err := s.FindAgent(ctx, ns, "dup")
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, got, first)
		if _, err := s.FindAgent(ctx, ns, "renamed"); err != nil {
			t.Fatalf("renamed agent lost after failed rename: %v", err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := create(t, s, NewAgent("updatable"))
		time.Sleep(2 * time.Millisecond)
		got, err := s.UpdateAgent(ctx, ns, a.ID, func(u *platform.Agent) error {
			u.Name = "updated"
			u.Capabilities = []string{"a", "b"}
			u.Labels = map[string]string{"k": "v"}
			u.Status = platform.AgentInactive
			u.Metadata = json.RawMessage(`{"x":1}`)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != a.ID || !got.CreatedAt.Equal(a.CreatedAt) || !got.UpdatedAt.After(a.UpdatedAt) {
			t.Fatalf("identity or timestamps wrong after update: %+v", got)
		}
		found, err := s.FindAgent(ctx, ns, "updated")
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, found, got)
		if _, err := s.FindAgent(ctx, ns, "updatable"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("old name still found: %v", err)
		}
		// An error from the update function changes nothing.
		boom := errors.New("boom")
		_, err = s.UpdateAgent(ctx, ns, a.ID, func(u *platform.Agent) error { u.Name = "nope"; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateAgent error = %v, want boom", err)
		}
		again, err := s.FindAgent(ctx, ns, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, again, got)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a := create(t, s, NewAgent("doomed"))
		keep := create(t, s, NewAgent("kept"))
		if err := s.DeleteAgent(ctx, ns, a.Name); err != nil {
			t.Fatal(err)
		}
		_, err := s.FindAgent(ctx, ns, a.ID)
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteAgent(ctx, ns, a.ID), platform.ENOTFOUND)
		if _, err := s.FindAgent(ctx, ns, keep.ID); err != nil {
			t.Fatal(err)
		}
		// The name is free again.
		create(t, s, NewAgent("doomed"))
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		mk := func(name string, typ platform.AgentType, status platform.AgentStatus, labels map[string]string, caps ...string) {
			a := NewAgent(name)
			a.Type, a.Status, a.Labels, a.Capabilities = typ, status, labels, caps
			create(t, s, a)
		}
		mk("w1", platform.AgentWorker, platform.AgentActive, map[string]string{"team": "a", "env": "prod"}, "summarize", "translate")
		mk("w2", platform.AgentWorker, platform.AgentInactive, map[string]string{"team": "b"}, "summarize")
		mk("o1", platform.AgentOrchestrator, platform.AgentActive, map[string]string{"team": "a"}, "plan")
		mk("m1", platform.AgentMonitor, platform.AgentActive, nil)
		other := NewAgent("elsewhere")
		other.Namespace = "other"
		create(t, s, other)

		tests := []struct {
			name string
			f    platform.AgentFilter
			want []string
		}{
			{"all", platform.AgentFilter{}, []string{"w1", "w2", "o1", "m1"}},
			{"type", platform.AgentFilter{Type: platform.AgentWorker}, []string{"w1", "w2"}},
			{"capability", platform.AgentFilter{Capability: "summarize"}, []string{"w1", "w2"}},
			{"capability exact", platform.AgentFilter{Capability: "summ"}, nil},
			{"status", platform.AgentFilter{Status: platform.AgentInactive}, []string{"w2"}},
			{"label", platform.AgentFilter{Labels: map[string]string{"team": "a"}}, []string{"w1", "o1"}},
			{"labels", platform.AgentFilter{Labels: map[string]string{"team": "a", "env": "prod"}}, []string{"w1"}},
			{"label value", platform.AgentFilter{Labels: map[string]string{"team": "c"}}, nil},
			{"combined", platform.AgentFilter{Type: platform.AgentWorker, Capability: "summarize", Status: platform.AgentActive}, []string{"w1"}},
			{"namespace", platform.AgentFilter{Namespace: "other"}, []string{"elsewhere"}},
		}
		for _, tt := range tests {
			if tt.f.Namespace == "" {
				tt.f.Namespace = ns
			}
			tt.f.Limit = platform.MaxPageSize
			page, err := s.ListAgents(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := names(page.Items); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
			if page.Next != "" {
				t.Errorf("%s: Next = %q on the only page", tt.name, page.Next)
			}
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var want []string
		for i := range 23 {
			name := fmt.Sprintf("agent-%02d", i)
			create(t, s, NewAgent(name))
			want = append(want, name)
		}
		got := listAll(t, s, platform.AgentFilter{Namespace: ns, Limit: 5})
		if !slices.Equal(got, want) {
			t.Fatalf("pages gave %v, want %v", got, want)
		}
		// An exact multiple of the page size ends without an empty page.
		page, err := s.ListAgents(ctx, platform.AgentFilter{Namespace: ns, Limit: 23})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 23 || page.Next != "" {
			t.Fatalf("limit 23 of 23: %d items, next %q", len(page.Items), page.Next)
		}
	})

	t.Run("PaginationStableUnderInserts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var want []string
		for i := range 12 {
			name := fmt.Sprintf("early-%02d", i)
			create(t, s, NewAgent(name))
			want = append(want, name)
		}
		f := platform.AgentFilter{Namespace: ns, Limit: 4}
		var got []string
		for i := 0; ; i++ {
			page, err := s.ListAgents(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, names(page.Items)...)
			// Agents registered between pages come after every earlier one.
			late := fmt.Sprintf("late-%02d", i)
			create(t, s, NewAgent(late))
			want = append(want, late)
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
		// Every agent present when paging started is seen exactly once, in
		// order, and the late ones, if seen, follow them.
		if !slices.Equal(got[:12], want[:12]) {
			t.Fatalf("got %v", got)
		}
		seen := map[string]bool{}
		for _, n := range got {
			if seen[n] {
				t.Fatalf("%s seen twice: %v", n, got)
			}
			seen[n] = true
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers*2)
		for i := range writers {
			wg.Add(2)
			go func() { // distinct names: all succeed
				defer wg.Done()
				a := NewAgent(fmt.Sprintf("writer-%d", i))
				a.Normalize()
				errs[i] = s.CreateAgent(ctx, a)
			}()
			go func() { // one name: exactly one succeeds
				defer wg.Done()
				a := NewAgent("contended")
				a.Normalize()
				errs[writers+i] = s.CreateAgent(ctx, a)
			}()
		}
		wg.Wait()
		for i := range writers {
			if errs[i] != nil {
				t.Errorf("writer %d: %v", i, errs[i])
			}
		}
		won := 0
		for _, err := range errs[writers:] {
			switch platform.ErrorCode(err) {
			case "":
				won++
			case platform.ECONFLICT:
			default:
				t.Errorf("contended create: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d writers created the contended name, want 1", won)
		}
		// Concurrent updates of one agent serialize: no update is lost.
		create(t, s, NewAgent("counter"))
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.UpdateAgent(ctx, ns, "counter", func(a *platform.Agent) error {
					a.Capabilities = append(a.Capabilities, fmt.Sprintf("c%d", len(a.Capabilities)))
					return nil
				})
				if err != nil {
					t.Errorf("UpdateAgent: %v", err)
				}
			}()
		}
		wg.Wait()
		got, err := s.FindAgent(ctx, ns, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Capabilities) != 1+writers {
			t.Fatalf("capabilities after %d concurrent updates: %v", writers, got.Capabilities)
		}
		page, err := s.ListAgents(ctx, platform.AgentFilter{Namespace: ns, Limit: platform.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != writers+2 {
			t.Fatalf("%d agents stored, want %d", len(page.Items), writers+2)
		}
	})

	t.Run("Count", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i, typ := range []platform.AgentType{platform.AgentWorker, platform.AgentWorker, platform.AgentMonitor} {
			a := NewAgent(fmt.Sprintf("c%d", i))
			a.Type = typ
			create(t, s, a)
		}
		counts, err := s.CountAgents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[platform.AgentType]int{}
		for _, c := range counts {
			if c.Status != platform.AgentActive {
				t.Fatalf("unexpected status in %+v", c)
			}
			got[c.Type] += c.Count
		}
		if got[platform.AgentWorker] != 2 || got[platform.AgentMonitor] != 1 || len(got) != 2 {
			t.Fatalf("counts = %v", counts)
		}
	})
}

func listAll(t *testing.T, s Store, f platform.AgentFilter) []string {
	t.Helper()
	var got []string
	for range 1000 {
		page, err := s.ListAgents(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > f.Limit {
			t.Fatalf("page of %d items for limit %d", len(page.Items), f.Limit)
		}
		got = append(got, names(page.Items)...)
		if page.Next == "" {
			return got
		}
		f.After = page.Next
	}
	t.Fatal("pagination does not end")
	return nil
}

func names(as []*platform.Agent) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

// assertSame compares two agents field by field, timestamps to the
// microsecond (PostgreSQL's precision), metadata as JSON values and
// manifests byte for byte.
func assertSame(t *testing.T, got, want *platform.Agent) {
	t.Helper()
	g, w := *got, *want
	assertManifest(t, g.Manifest, w.Manifest)
	if !sameJSON(g.Metadata, w.Metadata) {
		t.Fatalf("metadata = %s, want %s", g.Metadata, w.Metadata)
	}
	g.Metadata, w.Metadata = nil, nil
	if !g.CreatedAt.Truncate(time.Microsecond).Equal(w.CreatedAt.Truncate(time.Microsecond)) ||
		!g.UpdatedAt.Truncate(time.Microsecond).Equal(w.UpdatedAt.Truncate(time.Microsecond)) {
		t.Fatalf("timestamps = %v/%v, want %v/%v", g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
	}
	g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) {
		t.Fatalf("agent = %s\nwant    %s", gj, wj)
	}
}

// assertManifest checks that got is want: both none, or the same format
// and the same bytes.
func assertManifest(t *testing.T, got, want *platform.ManifestSource) {
	t.Helper()
	if got == nil && want == nil {
		return
	}
	if got == nil || want == nil || got.Format != want.Format || !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("manifest = %s\nwant       %s", describeManifest(got), describeManifest(want))
	}
}

func describeManifest(m *platform.ManifestSource) string {
	if m == nil {
		return "none"
	}
	return fmt.Sprintf("%s %q", m.Format, m.Body)
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	da := json.NewDecoder(bytesReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytesReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	xj, _ := json.Marshal(x)
	yj, _ := json.Marshal(y)
	return string(xj) == string(yj)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
