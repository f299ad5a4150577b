package lexical_test

import (
	"context"
	"math"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/lexical"
)

func TestStem(t *testing.T) {
	t.Parallel()
	for _, group := range [][]string{
		{"invoice", "invoices", "invoicing", "invoiced"},
		{"summarize", "summarizes", "summarization", "summarizing", "summarized"},
		{"translate", "translation", "translator", "translators", "translating"},
		{"extract", "extracts", "extraction", "extracting", "extracted"},
		{"classify", "classifies"},
		{"schedule", "schedules", "scheduling", "scheduler"},
		{"stop", "stopping"},
	} {
		want := lexical.Stem(group[0])
		for _, w := range group[1:] {
			if got := lexical.Stem(w); got != want {
				t.Errorf("Stem(%q) = %q, want %q like Stem(%q)", w, got, want, group[0])
			}
		}
	}
	for _, w := range []string{"pdf", "s3", "gpt4o", "bus", "ocr"} {
		if got := lexical.Stem(w); got != w {
			t.Errorf("Stem(%q) = %q, want it unchanged", w, got)
		}
	}
}

func TestWords(t *testing.T) {
	t.Parallel()
	got := lexical.Words("Which agent can pull line-items out of a PDF invoice?")
	want := []string{"pull", "line", "item", "out", "pdf", "invoic"}
	if len(got) != len(want) {
		t.Fatalf("Words = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Words = %q, want %q", got, want)
		}
	}
}

func TestNewRefusesDimensions(t *testing.T) {
	t.Parallel()
	for _, dim := range []int{0, 15, 4097} {
		if _, err := lexical.New(dim); platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("New(%d) = %v, want EINVALID", dim, err)
		}
	}
}

func embedder(t *testing.T) *lexical.Embedder {
	t.Helper()
	e, err := lexical.New(lexical.DefaultDimension)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestVectorIsUnitAndDeterministic(t *testing.T) {
	t.Parallel()
	e := embedder(t)
	if e.Model() != "lexical-v1" || e.Dimension() != 384 {
		t.Fatalf("Model, Dimension = %q, %d", e.Model(), e.Dimension())
	}
	texts := []string{"Extracts line items from PDF invoices", "", "the of and", "日本語の請求書"}
	got, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if len(v) != 384 {
			t.Fatalf("vector %d has %d dimensions", i, len(v))
		}
		n := norm(v)
		switch texts[i] {
		case "", "the of and":
			if n != 0 {
				t.Errorf("%q: norm %v, want 0 (no word)", texts[i], n)
			}
		default:
			if math.Abs(n-1) > 1e-5 {
				t.Errorf("%q: norm %v, want 1", texts[i], n)
			}
		}
		again := e.Vector(texts[i])
		for j := range v {
			if v[j] != again[j] {
				t.Fatalf("%q: not deterministic at %d", texts[i], j)
			}
		}
	}
}

func TestEmbedEndsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := embedder(t).Embed(ctx, []string{"x"}); err == nil {
		t.Fatal("Embed with an ended context succeeded")
	}
}

// TestSimilarity: a query is nearer the text that shares its words,
// inflected or not, than texts about something else.
func TestSimilarity(t *testing.T) {
	t.Parallel()
	e := embedder(t)
	q := e.Vector("pull line items out of PDF invoices")
	near := e.Vector("Invoice extraction: reads a PDF invoice and returns its line items, totals and tax")
	for _, far := range []string{
		"Translates documents between English, French and German",
		"Schedules meetings across calendars and time zones",
		"Summarizes support tickets and suggests a reply",
	} {
		if a, b := platform.Cosine(q, near), platform.Cosine(q, e.Vector(far)); a <= b {
			t.Errorf("cosine with the invoice text %v <= %v with %q", a, b, far)
		}
	}
}

// TestGolden pins the vector of one text: a change of the features must
// come with a new Model name, since it invalidates every index.
func TestGolden(t *testing.T) {
	t.Parallel()
	v := embedder(t).Vector("Extracts line items from PDF invoices")
	var sum, weighted float64
	nonzero := 0
	for i, x := range v {
		sum += float64(x)
		weighted += float64(i) * float64(x)
		if x != 0 {
			nonzero++
		}
	}
	got := [3]float64{round(sum), round(weighted), float64(nonzero)}
	want := [3]float64{goldenSum, goldenWeighted, goldenNonzero}
	if got != want {
		t.Fatalf("the vector changed: sum, index-weighted sum, non-zero = %v, want %v; change lexical.Model with the features", got, want)
	}
}

func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func norm(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func FuzzVector(f *testing.F) {
	for _, s := range []string{"", "invoices", "PDF-invoice 2024!", "\xff\xfe", "ééé ß"} {
		f.Add(s)
	}
	e, err := lexical.New(64)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := e.Vector(s)
		if len(v) != 64 {
			t.Fatalf("%d dimensions", len(v))
		}
		n := norm(v)
		if math.IsNaN(n) || (n != 0 && math.Abs(n-1) > 1e-4) {
			t.Fatalf("norm %v", n)
		}
		for _, w := range lexical.Words(s) {
			if w == "" {
				t.Fatal("an empty word")
			}
		}
	})
}
