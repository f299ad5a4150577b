package expr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzExpr parses and evaluates arbitrary input: nothing panics, every
// error is an *Error located inside its source, every reference is located
// at its root's name, and the canonical form of a parsed expression parses
// again to itself and evaluates alike.
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
	scope := testScope()
	scope["nan"] = nan()
	f.Fuzz(func(t *testing.T, src string) {
		// As a template string and as a condition, only errors or values.
		if _, err := Render("x ${{ "+src+" }}", scope); err != nil {
			checkError(t, err)
		}
		if _, err := Condition(src, scope); err != nil {
			checkError(t, err)
		}
		tmpl := "x ${{ " + src + " }} y"
		if es, err := ParseTemplates(tmpl); err != nil {
			checkError(t, err)
		} else {
			for _, e := range es {
				for _, r := range e.Refs() {
					if !strings.HasPrefix(tmpl[r.Pos:], r.Root) {
						t.Fatalf("ref %v of %q is not at its root: %q", r, tmpl, tmpl[r.Pos:])
					}
				}
			}
		}

		e, err := Parse(src)
		if err != nil {
			checkError(t, err)
			return
		}
		v1, err1 := e.Eval(scope)
		if err1 != nil {
			checkError(t, err1)
		}
		_ = e.Refs()
		canon := e.String()
		if len(canon) > MaxLen {
			return // the canonical form may be longer than the source
		}
		e2, err := Parse(canon)
		if err != nil {
			t.Fatalf("String() of %q is %q, which does not parse: %v", src, canon, err)
		}
		if again := e2.String(); again != canon {
			t.Fatalf("String() of %q is %q, which prints as %q", src, canon, again)
		}
		v2, err2 := e2.Eval(scope)
		if (err1 == nil) != (err2 == nil) || err1 == nil && !reflect.DeepEqual(v1, v2) && !(isNaN(v1) && isNaN(v2)) {
			t.Fatalf("%q evaluates to %#v, %v but its String() %q to %#v, %v", src, v1, err1, canon, v2, err2)
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var xe *Error
	if !errors.As(err, &xe) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if xe.Pos < 0 || xe.Pos > len(xe.Src) {
		t.Fatalf("error %v is at %d, outside its source %q", err, xe.Pos, xe.Src)
	}
	_ = err.Error()
}

func isNaN(v any) bool {
	f, ok := v.(float64)
	return ok && f != f
}
