package eval

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// SearchFunc is the search being evaluated: the names of the agents that
// answer query, best first, at most limit of them.
type SearchFunc func(ctx context.Context, query string, limit int) ([]string, error)

// Depth is how many hits Evaluate asks for and looks at: an expected agent
// further down, or absent, has rank 0.
const Depth = 10

// TargetRecallAt3 is the recall@3 the embedded default search must reach
// on the set (issue 14).
const TargetRecallAt3 = 0.8

// Metrics are the figures of a group of queries.
type Metrics struct {
	Queries int
	// RecallAt1 is the share of queries whose expected agent comes first,
	// RecallAt3 of those where it is among the first three.
	RecallAt1 float64
	RecallAt3 float64
	// MRR is the mean of 1/rank of the expected agent (0 when it is not
	// among the first Depth hits).
	MRR float64
	// AcceptableAt1 is the share of queries whose first hit is the
	// expected agent or one of the query's Also.
	AcceptableAt1 float64
	// Errors counts the queries the search failed on; they count as
	// misses.
	Errors int
}

// QueryResult is what the search gave for one query.
type QueryResult struct {
	Query Query
	// Rank is the position, from 1, of the expected agent among the first
	// Depth hits; 0 when it is not there.
	Rank int
	// Hits are the first Depth names the search returned.
	Hits []string
	Err  error
}

// Result is an evaluation: the figures of all queries, those of each kind
// of query, and every query's result in the order of the queries.
type Result struct {
	Metrics
	ByKind  map[string]Metrics
	Queries []QueryResult
}

// Evaluate runs search over every query, asking for Depth hits, and scores
// the ranking. A query the search fails on is a miss whose error is kept;
// once ctx is done the remaining queries are not searched and carry its
// error.
func Evaluate(ctx context.Context, search SearchFunc, queries []Query) Result {
	r := Result{Queries: make([]QueryResult, 0, len(queries))}
	for _, q := range queries {
		qr := QueryResult{Query: q}
		if err := ctx.Err(); err != nil {
			qr.Err = err
		} else {
			qr.Hits, qr.Err = search(ctx, q.Text, Depth)
		}
		if qr.Err != nil {
			qr.Hits = nil
		}
		if len(qr.Hits) > Depth {
			qr.Hits = qr.Hits[:Depth]
		}
		qr.Rank = slices.Index(qr.Hits, q.Expect) + 1
		r.Queries = append(r.Queries, qr)
	}
	r.Metrics = metrics(r.Queries)
	r.ByKind = map[string]Metrics{}
	for _, kind := range kinds(queries) {
		var group []QueryResult
		for _, qr := range r.Queries {
			if qr.Query.Kind == kind {
				group = append(group, qr)
			}
		}
		r.ByKind[kind] = metrics(group)
	}
	return r
}

func metrics(results []QueryResult) Metrics {
	m := Metrics{Queries: len(results)}
	if m.Queries == 0 {
		return m
	}
	var at1, at3, acceptable int
	for _, qr := range results {
		if qr.Err != nil {
			m.Errors++
		}
		if qr.Rank == 1 {
			at1++
		}
		if qr.Rank >= 1 && qr.Rank <= 3 {
			at3++
		}
		if qr.Rank > 0 {
			m.MRR += 1 / float64(qr.Rank)
		}
		if len(qr.Hits) > 0 && (qr.Hits[0] == qr.Query.Expect || slices.Contains(qr.Query.Also, qr.Hits[0])) {
			acceptable++
		}
	}
	n := float64(m.Queries)
	m.RecallAt1, m.RecallAt3, m.MRR, m.AcceptableAt1 = float64(at1)/n, float64(at3)/n, m.MRR/n, float64(acceptable)/n
	return m
}

// kinds returns the kinds the queries have, known ones in the order of
// Kinds, then the others sorted ("" for a query without one).
func kinds(queries []Query) []string {
	have := map[string]bool{}
	for _, q := range queries {
		have[q.Kind] = true
	}
	var out []string
	for _, k := range Kinds {
		if have[k] {
			out = append(out, k)
			delete(have, k)
		}
	}
	var rest []string
	for k := range have {
		rest = append(rest, k)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// String is one line of figures.
func (m Metrics) String() string {
	s := fmt.Sprintf("recall@1 %.3f  recall@3 %.3f  MRR %.3f  acceptable@1 %.3f  (%d queries)",
		m.RecallAt1, m.RecallAt3, m.MRR, m.AcceptableAt1, m.Queries)
	if m.Errors > 0 {
		s += fmt.Sprintf(", %d failed", m.Errors)
	}
	return s
}

// String is a small report: the figures of all queries and of each kind
// ("-" for queries without one), then every query whose expected agent did not come first, with its rank
// ("-" when absent) and the first hit.
func (r Result) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "queries\tkind\trecall@1\trecall@3\tMRR\tacceptable@1\terrors")
	row := func(kind string, m Metrics) {
		fmt.Fprintf(w, "%d\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%d\n", m.Queries, kind, m.RecallAt1, m.RecallAt3, m.MRR, m.AcceptableAt1, m.Errors)
	}
	row("all", r.Metrics)
	if ks := kinds(queryList(r.Queries)); len(ks) > 1 || len(ks) == 1 && ks[0] != "" {
		for _, kind := range ks {
			label := kind
			if kind == "" {
				label = "-"
			}
			row(label, r.ByKind[kind])
		}
	}
	w.Flush()
	var misses []QueryResult
	for _, qr := range r.Queries {
		if qr.Rank != 1 {
			misses = append(misses, qr)
		}
	}
	if len(misses) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "\nnot first (%d):\n", len(misses))
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "rank\texpect\tfirst hit\tquery")
	for _, qr := range misses {
		rank, first := "-", "-"
		if qr.Rank > 0 {
			rank = fmt.Sprint(qr.Rank)
		}
		switch {
		case qr.Err != nil:
			first = "error: " + qr.Err.Error()
		case len(qr.Hits) > 0:
			first = qr.Hits[0]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", rank, qr.Query.Expect, first, qr.Query.Text)
	}
	w.Flush()
	return b.String()
}

func queryList(results []QueryResult) []Query {
	qs := make([]Query, len(results))
	for i, qr := range results {
		qs[i] = qr.Query
	}
	return qs
}

// Table compares evaluations, one row each, named by the keys of results
// (such as "lexical-v1/inmem"), in the order of their names.
func Table(results map[string]Result) string {
	names := make([]string, 0, len(results))
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "search\tqueries\trecall@1\trecall@3\tMRR\tacceptable@1\terrors")
	for _, name := range names {
		m := results[name].Metrics
		fmt.Fprintf(w, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%d\n", name, m.Queries, m.RecallAt1, m.RecallAt3, m.MRR, m.AcceptableAt1, m.Errors)
	}
	w.Flush()
	return b.String()
}
