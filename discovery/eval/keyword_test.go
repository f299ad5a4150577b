package eval

import (
	"context"
	"slices"
	"testing"

	"github.com/ossa-platform/platform"
)

func TestKeywordSearch(t *testing.T) {
	t.Parallel()
	search := KeywordSearch([]*platform.Agent{
		{Name: "pdf-reader", Description: "Reads the text of PDF files.", Capabilities: []string{"pdf-text"}},
		{Name: "invoice-reader", Description: "Reads invoices in PDF.", Capabilities: []string{"extract_lines"}},
		{Name: "translator", Description: "Translates text.", Capabilities: []string{"translation"}},
		{Name: "archiver", Description: "Stores files.", Capabilities: []string{"archive"}},
	})
	for _, tc := range []struct {
		query string
		limit int
		want  []string
	}{
		// invoice-reader shares invoices, pdf, extract and lines; the others one word each.
		{"Extract the lines of the invoices in this PDF", 10, []string{"invoice-reader", "pdf-reader"}},
		// Ties (text: pdf-reader and translator; files: archiver and pdf-reader) go by name.
		{"text files", 10, []string{"pdf-reader", "archiver", "translator"}},
		{"text files", 1, []string{"pdf-reader"}},
		{"text files", 0, []string{}},
		// Function words alone match nothing.
		{"what is the", 10, []string{}},
	} {
		got, err := search(context.Background(), tc.query, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("search(%q, %d) = %v, %v; want %v", tc.query, tc.limit, got, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := search(ctx, "pdf", 10); err == nil {
		t.Error("search with a canceled context succeeded")
	}
}

// TestBaseline reports what the keyword baseline reaches on the set: the
// figures a semantic search has to beat. It asserts only that they are
// consistent.
func TestBaseline(t *testing.T) {
	t.Parallel()
	set, err := loadSet()
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(context.Background(), KeywordSearch(set.Agents), set.Queries)
	t.Logf("keyword baseline over %d agents:\n%s", len(set.Agents), r)
	m := r.Metrics
	if m.Queries != len(set.Queries) || m.Errors != 0 {
		t.Errorf("%d queries, %d errors; want %d and none", m.Queries, m.Errors, len(set.Queries))
	}
	if !(0 <= m.RecallAt1 && m.RecallAt1 <= m.MRR && m.MRR <= 1 && m.RecallAt1 <= m.RecallAt3 && m.RecallAt3 <= 1) {
		t.Errorf("inconsistent figures: %v", m)
	}
	// Lexical queries share their key words with the expected agent by
	// construction: a baseline that finds none of them is broken.
	if lex := r.ByKind[KindLexical]; lex.RecallAt3 == 0 {
		t.Errorf("the baseline finds no lexical query's agent: %v", lex)
	}
}
