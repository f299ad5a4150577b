package eval

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// ranking is a search that answers from a fixed table.
func ranking(t *testing.T, table map[string][]string, fail map[string]error) SearchFunc {
	return func(ctx context.Context, query string, limit int) ([]string, error) {
		if limit != Depth {
			t.Errorf("search(%q) asked for %d hits, want %d", query, limit, Depth)
		}
		if err := fail[query]; err != nil {
			return []string{"a"}, err
		}
		hits, ok := table[query]
		if !ok {
			t.Fatalf("unexpected query %q", query)
		}
		return hits, nil
	}
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

func checkMetrics(t *testing.T, name string, got, want Metrics) {
	t.Helper()
	if got.Queries != want.Queries || got.Errors != want.Errors || !near(got.RecallAt1, want.RecallAt1) ||
		!near(got.RecallAt3, want.RecallAt3) || !near(got.MRR, want.MRR) || !near(got.AcceptableAt1, want.AcceptableAt1) {
		t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	queries := []Query{
		{Text: "q1", Expect: "a", Kind: KindLexical},
		{Text: "q2", Expect: "b", Kind: KindLexical},
		{Text: "q3", Expect: "c", Kind: KindLexical},
		{Text: "q4", Expect: "d", Kind: KindHard},
		{Text: "q5", Expect: "e", Kind: KindHard},
		{Text: "q6", Expect: "f"},
		{Text: "q7", Expect: "g", Also: []string{"h"}},
	}
	table := map[string][]string{
		"q1": {"a", "b", "c"},                                         // rank 1
		"q2": {"c", "a", "b"},                                         // rank 3
		"q3": {"a", "b"},                                              // absent
		"q4": {"a", "d", "a"},                                         // rank 2
		"q6": {"a", "b", "c", "d", "e", "g", "h", "i", "j", "k", "f"}, // 11th: beyond Depth
		"q7": {"h", "g"},                                              // rank 2, acceptable first
	}
	boom := errors.New("index unavailable")
	r := Evaluate(context.Background(), ranking(t, table, map[string]error{"q5": boom}), queries)

	wantRanks := []int{1, 3, 0, 2, 0, 0, 2}
	for i, qr := range r.Queries {
		if qr.Query.Text != queries[i].Text || qr.Rank != wantRanks[i] {
			t.Errorf("query %d: %q rank %d, want %q rank %d", i, qr.Query.Text, qr.Rank, queries[i].Text, wantRanks[i])
		}
		if len(qr.Hits) > Depth {
			t.Errorf("query %q keeps %d hits, more than %d", qr.Query.Text, len(qr.Hits), Depth)
		}
	}
	if !errors.Is(r.Queries[4].Err, boom) || r.Queries[4].Hits != nil {
		t.Errorf("failed query: err %v, hits %v; want %v and no hits", r.Queries[4].Err, r.Queries[4].Hits, boom)
	}
	// MRR = (1 + 1/3 + 0 + 1/2 + 0 + 0 + 1/2) / 7.
	checkMetrics(t, "all", r.Metrics, Metrics{Queries: 7, RecallAt1: 1.0 / 7, RecallAt3: 4.0 / 7,
		MRR: (1 + 1.0/3 + 0.5 + 0.5) / 7, AcceptableAt1: 2.0 / 7, Errors: 1})
	checkMetrics(t, "lexical", r.ByKind[KindLexical], Metrics{Queries: 3, RecallAt1: 1.0 / 3, RecallAt3: 2.0 / 3,
		MRR: (1 + 1.0/3) / 3, AcceptableAt1: 1.0 / 3})
	checkMetrics(t, "hard", r.ByKind[KindHard], Metrics{Queries: 2, RecallAt3: 0.5, MRR: 0.25, Errors: 1})
	checkMetrics(t, "no kind", r.ByKind[""], Metrics{Queries: 2, RecallAt3: 0.5, MRR: 0.25, AcceptableAt1: 0.5})
	if _, ok := r.ByKind[KindParaphrase]; ok {
		t.Errorf("ByKind has %q, which no query has", KindParaphrase)
	}

	want := `queries  kind     recall@1  recall@3  MRR    acceptable@1  errors
7        all      0.143     0.571     0.333  0.286         1
3        lexical  0.333     0.667     0.444  0.333         0
2        hard     0.000     0.500     0.250  0.000         1
2        -        0.000     0.500     0.250  0.500         0

not first (6):
rank  expect  first hit                 query
3     b       c                         q2
-     c       a                         q3
2     d       a                         q4
-     e       error: index unavailable  q5
-     f       a                         q6
2     g       h                         q7
`
	if got := r.String(); got != want {
		t.Errorf("String():\n%s\nwant:\n%s", got, want)
	}
}

func TestEvaluatePerfect(t *testing.T) {
	t.Parallel()
	queries := []Query{{Text: "x", Expect: "a"}, {Text: "y", Expect: "b"}}
	r := Evaluate(context.Background(), ranking(t, map[string][]string{"x": {"a"}, "y": {"b", "a"}}, nil), queries)
	checkMetrics(t, "perfect", r.Metrics, Metrics{Queries: 2, RecallAt1: 1, RecallAt3: 1, MRR: 1, AcceptableAt1: 1})
	if strings.Contains(r.String(), "not first") {
		t.Errorf("String() lists misses when there are none:\n%s", r)
	}
}

func TestEvaluateEmpty(t *testing.T) {
	t.Parallel()
	r := Evaluate(context.Background(), ranking(t, nil, nil), nil)
	checkMetrics(t, "empty", r.Metrics, Metrics{})
	if s := r.String(); strings.Contains(s, "NaN") {
		t.Errorf("String() of no queries:\n%s", s)
	}
}

func TestEvaluateCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	search := func(ctx context.Context, query string, limit int) ([]string, error) {
		calls++
		cancel()
		return []string{"a"}, nil
	}
	r := Evaluate(ctx, search, []Query{{Text: "x", Expect: "a"}, {Text: "y", Expect: "a"}, {Text: "z", Expect: "a"}})
	if calls != 1 {
		t.Errorf("search called %d times, want 1 (none after cancel)", calls)
	}
	if r.Queries[0].Rank != 1 || r.Errors != 2 || !errors.Is(r.Queries[2].Err, context.Canceled) {
		t.Errorf("got rank %d, %d errors, last error %v; want rank 1, 2 errors, context.Canceled",
			r.Queries[0].Rank, r.Errors, r.Queries[2].Err)
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	results := map[string]Result{
		"b/inmem":  {Metrics: Metrics{Queries: 4, RecallAt1: 0.5, RecallAt3: 0.75, MRR: 0.625, AcceptableAt1: 0.5}},
		"a/qdrant": {Metrics: Metrics{Queries: 4, RecallAt1: 1, RecallAt3: 1, MRR: 1, AcceptableAt1: 1, Errors: 0}},
	}
	want := "search    queries  recall@1  recall@3  MRR    acceptable@1  errors\n" +
		"a/qdrant  4        1.000     1.000     1.000  1.000         0\n" +
		"b/inmem   4        0.500     0.750     0.625  0.500         0\n"
	if got := Table(results); got != want {
		t.Errorf("Table:\n%s\nwant:\n%s", got, want)
	}
}
