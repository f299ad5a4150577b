package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ossa-platform/platform"
)

// runTextSearch checks the AgentTextSearch: stemmed words of the name,
// description, capabilities and labels find an agent, a word of its name
// or capabilities ranks it above a mention in another's description,
// filters and namespaces confine the hits, and the index follows
// updates and deletes in the agent's own change.
func runTextSearch(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	all := []string{platform.AllNamespaces}
	search := func(t *testing.T, s Store, text string, mod func(*platform.TextQuery)) []string {
		t.Helper()
		q := platform.TextQuery{Terms: platform.SearchTerms(text), Namespaces: all, Limit: 10}
		if mod != nil {
			mod(&q)
		}
		hits, err := s.SearchAgentText(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range hits {
			a, err := s.FindAgent(ctx, h.Namespace, h.ID)
			if err != nil {
				t.Fatalf("hit %+v: %v", h, err)
			}
			names = append(names, a.Name)
		}
		return names
	}
	seed := func(t *testing.T) Store {
		s := newStore(t)
		for _, a := range []*platform.Agent{
			{Name: "invoice-extractor", Namespace: "team-a", Capabilities: []string{"extract_line_items", "parse-pdf"},
				Description: "Reads PDF invoices and returns their line items, totals and tax.", Labels: map[string]string{"domain": "finance"}},
			{Name: "receipt-ocr", Namespace: "team-a", Capabilities: []string{"ocr"}, Type: platform.AgentMonitor,
				Description: "Turns photos of receipts into text; not meant for invoices."},
			{Name: "code-reviewer", Namespace: "team-a", Capabilities: []string{"review_code"},
				Description: "Reviews pull requests for bugs.", Labels: map[string]string{"domain": "engineering"}},
			{Name: "invoice-extractor", Namespace: "team-b", Capabilities: []string{"extract_line_items"},
				Description: "Team B's own invoice reader."},
		} {
			a.Endpoint = "http://localhost:9001"
			if a.Type == "" {
				a.Type = platform.AgentWorker
			}
			create(t, s, a)
		}
		// Others, so that the words of the few above are rare, as in a
		// real registry (BM25 gives a word most agents have no weight).
		for _, d := range []string{"Schedules meetings across calendars.", "Summarises incident timelines for on-call engineers.",
			"Translates support tickets.", "Scans container images for known vulnerabilities.", "Forecasts monthly cloud spend.",
			"Writes release notes from merged changes.", "Classifies customer emails by intent.", "Cleans CSV files of duplicates."} {
			a := NewAgent(fmt.Sprintf("other-%d", len(d)))
			a.Namespace, a.Description = "team-c", d
			create(t, s, a)
		}
		return s
	}

	t.Run("Ranking", func(t *testing.T) {
		t.Parallel()
		s := seed(t)
		got := search(t, s, "extract the line items of an invoice", func(q *platform.TextQuery) { q.Namespaces = []string{"team-a"} })
		if len(got) != 2 || got[0] != "invoice-extractor" || got[1] != "receipt-ocr" {
			t.Fatalf("line items of invoices in team-a: %v, want invoice-extractor then receipt-ocr", got)
		}
		// Stemming, and words split at '_' and '-'.
		for text, want := range map[string]string{"reviewing": "code-reviewer", "invoicing": "invoice-extractor",
			"finance": "invoice-extractor", "receipts": "receipt-ocr"} {
			if got := search(t, s, text, func(q *platform.TextQuery) { q.Namespaces = []string{"team-a"} }); len(got) == 0 || got[0] != want {
				t.Errorf("%q: %v, want %s first", text, got, want)
			}
		}
		if got := search(t, s, "kubernetes", nil); len(got) != 0 {
			t.Errorf("a word no agent has: %v", got)
		}
		if got := search(t, s, "which can the", nil); len(got) != 0 {
			t.Errorf("stopwords alone: %v", got)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		s := seed(t)
		for name, c := range map[string]struct {
			mod  func(*platform.TextQuery)
			want int
		}{
			"both namespaces": {func(q *platform.TextQuery) { q.Namespaces = []string{"team-a", "team-b"} }, 3},
			"every one":       {nil, 3},
			"team-b":          {func(q *platform.TextQuery) { q.Namespaces = []string{"team-b"} }, 1},
			"no namespace":    {func(q *platform.TextQuery) { q.Namespaces = nil }, 0},
			"type":            {func(q *platform.TextQuery) { q.Type = platform.AgentMonitor }, 1},
			"capability":      {func(q *platform.TextQuery) { q.Capability = "extract_line_items" }, 2},
			"label":           {func(q *platform.TextQuery) { q.Labels = map[string]string{"domain": "finance"} }, 1},
			"status":          {func(q *platform.TextQuery) { q.Status = platform.AgentInactive }, 0},
			"limit":           {func(q *platform.TextQuery) { q.Limit = 1 }, 1},
		} {
			if got := search(t, s, "invoices", c.mod); len(got) != c.want {
				t.Errorf("%s: %v, want %d hits", name, got, c.want)
			}
		}
	})

	t.Run("FollowsChanges", func(t *testing.T) {
		t.Parallel()
		s := seed(t)
		if _, err := s.UpdateAgent(ctx, "team-a", "code-reviewer", func(a *platform.Agent) error {
			a.Description = "Translates documentation into Spanish."
			a.Capabilities = []string{"translate"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := search(t, s, "bugs", nil); len(got) != 0 {
			t.Errorf("the old description still matches: %v", got)
		}
		if got := search(t, s, "spanish translation", nil); len(got) == 0 || got[0] != "code-reviewer" {
			t.Errorf("the new description: %v", got)
		}
		// Health changes the agent's record, not its text.
		a, _ := s.FindAgent(ctx, "team-a", "code-reviewer")
		if err := s.SetAgentHealth(ctx, a.ID, platform.AgentHealth{Status: platform.HealthUnhealthy}); err != nil {
			t.Fatal(err)
		}
		if got := search(t, s, "spanish", nil); !slices.Equal(got, []string{"code-reviewer"}) {
			t.Errorf("after a health change: %v", got)
		}
		if err := s.DeleteAgent(ctx, "team-a", "invoice-extractor"); err != nil {
			t.Fatal(err)
		}
		if got := search(t, s, "invoice", func(q *platform.TextQuery) { q.Namespaces = []string{"team-a"} }); !slices.Equal(got, []string{"receipt-ocr"}) {
			t.Errorf("after deleting invoice-extractor: %v", got)
		}
	})
}
