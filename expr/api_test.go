package expr

import (
	"errors"
	"strings"
	"testing"
)

// TestEvalBudget checks that evaluations passing one budget share it, and
// that running out is an *Error wrapping ErrCost.
func TestEvalBudget(t *testing.T) {
	t.Parallel()
	e, err := Parse("length(toJSON(a))")
	if err != nil {
		t.Fatal(err)
	}
	scope := map[string]any{"a": strings.Repeat("x", 100)}
	budget := 250
	if v, err := e.EvalBudget(scope, &budget); err != nil || v != 102.0 || budget >= 250 || budget <= 0 {
		t.Fatalf("first: %v, %v, budget left %d", v, err, budget)
	}
	left := budget
	_, err = e.EvalBudget(scope, &budget)
	var xe *Error
	if !errors.Is(err, ErrCost) || !errors.As(err, &xe) || budget > left {
		t.Fatalf("second, with %d left: %v (%T), budget %d", left, err, err, budget)
	}
	// Eval has a budget of its own each time.
	if _, err := e.Eval(scope); err != nil {
		t.Fatal(err)
	}
	// A cost error of rendering wraps ErrCost too.
	big := map[string]any{"s": strings.Repeat("x", MaxCost)}
	if _, err := Render("a ${{ s }} ${{ s }}", big); !errors.Is(err, ErrCost) {
		t.Fatalf("render: %v", err)
	}
	if _, err := Render("${{ fromJSON('{') }}", nil); err == nil || errors.Is(err, ErrCost) {
		t.Fatalf("a failing fromJSON is no cost error: %v", err)
	}
}

// TestParseTemplates checks the templates of one string and the location
// of their errors in it.
func TestParseTemplates(t *testing.T) {
	t.Parallel()
	es, err := ParseTemplates("no templates")
	if err != nil || len(es) != 0 {
		t.Fatalf("%v, %v", es, err)
	}
	es, err = ParseTemplates("${{ a }}${{ '}}' }}x${{ b.c }}")
	if err != nil || len(es) != 3 || es[1].String() != "'}}'" || es[2].String() != "b.c" {
		t.Fatalf("%v, %v", es, err)
	}
	for src, want := range map[string]string{
		"é ${{ a = b }}":   "column 9: unexpected character '=' (equality is '==')",
		"x\n ${{ ) }}":     "line 2, column 6: unexpected ')'",
		"ok ${{ a }} ${{ ": "column 13: no '}}' closes this '${{'",
		"${{ 'open }}":     "column 5: unterminated string",
	} {
		_, err := ParseTemplates(src)
		var xe *Error
		if !errors.As(err, &xe) || err.Error() != want || xe.Src != src {
			t.Errorf("%q: %v, want %s", src, err, want)
		}
	}
}

// TestErrorPosition checks line and column, counted in characters.
func TestErrorPosition(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		src       string
		pos       int
		line, col int
	}{
		{"abc", 0, 1, 1},
		{"abc", 3, 1, 4},
		{"éé x", 5, 1, 4},
		{"a\nbc\nd", 4, 2, 3},
		{"a\nbc\nd", 5, 3, 1},
		{"a", 9, 1, 2},
		{"a", -1, 1, 1},
	} {
		line, col := (&Error{Pos: tt.pos, Src: tt.src}).Position()
		if line != tt.line || col != tt.col {
			t.Errorf("%q at %d: %d:%d, want %d:%d", tt.src, tt.pos, line, col, tt.line, tt.col)
		}
	}
}
