package engine

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzExpr parses and evaluates arbitrary input: nothing panics, every
// error is an *ExprError, and the canonical form of a parsed expression
// parses again to itself and evaluates alike.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		"workflow.input.repo",
		"steps.fetch-data.output.files[loop.index]",
		"steps['fetch-data'][\"output\"].diff",
		"steps.review.output.score > 0.8 && workflow.input.strict",
		"!(a == b) || c != null && d <= -1.5e3",
		"'it''s' == \"say \\\"hi\\\"\" || '\\u00e9\\ud83d\\ude00' < 'z'",
		"length(x) >= 2 && contains(workflow.input.tags, 'a')",
		"startsWith(a, 'x') && endsWith(b, 'y')",
		"toJSON(fromJSON('{\"a\":[1,true,null]}').a)",
		"default(workflow.nope, loop.item.name)",
		"((((a))))[0].b",
		"${{ a }}",
		"a &&\n b",
		"1e999",
		"'unterminated",
	} {
		f.Add(s)
	}
	scope := exprTestScope()
	scope["nan"] = exprNaN()
	f.Fuzz(func(t *testing.T, src string) {
		// As a template string and as a condition, only errors or values.
		if _, err := Render("x ${{ "+src+" }}", scope); err != nil {
			checkExprError(t, err)
		}
		if _, err := Condition(src, scope); err != nil {
			checkExprError(t, err)
		}

		e, err := ParseExpr(src)
		if err != nil {
			checkExprError(t, err)
			return
		}
		v1, err1 := e.Eval(scope)
		if err1 != nil {
			checkExprError(t, err1)
		}
		_ = e.Refs()
		canon := e.String()
		if len(canon) > MaxExprLen {
			return // the canonical form may be longer than the source
		}
		e2, err := ParseExpr(canon)
		if err != nil {
			t.Fatalf("String() of %q is %q, which does not parse: %v", src, canon, err)
		}
		if again := e2.String(); again != canon {
			t.Fatalf("String() of %q is %q, which prints as %q", src, canon, again)
		}
		v2, err2 := e2.Eval(scope)
		if (err1 == nil) != (err2 == nil) || err1 == nil && !reflect.DeepEqual(v1, v2) && !(exprIsNaN(v1) && exprIsNaN(v2)) {
			t.Fatalf("%q evaluates to %#v, %v but its String() %q to %#v, %v", src, v1, err1, canon, v2, err2)
		}
	})
}

func checkExprError(t *testing.T, err error) {
	t.Helper()
	var xe *ExprError
	if !errors.As(err, &xe) {
		t.Fatalf("error %v (%T) is not an *ExprError", err, err)
	}
	_ = err.Error()
}

func exprIsNaN(v any) bool {
	f, ok := v.(float64)
	return ok && f != f
}
