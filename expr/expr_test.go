package expr

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// testScope is what the tests' expressions read, shaped like a run's.
func testScope() map[string]any {
	return map[string]any{
		"workflow": map[string]any{"input": map[string]any{
			"repo": "ossa/platform", "strict": true, "count": 3.0, "tags": []any{"a", "b"}, "none": nil,
		}},
		"steps": map[string]any{
			"fetch-data": map[string]any{"output": map[string]any{
				"diff": "+x", "files": []any{"a.go", "b.go"}, "n": json.Number("2"),
			}},
			"2nd-pass": map[string]any{"output": "second", "-x": "minus"},
			"review":   map[string]any{"output": map[string]any{"score": 0.9, "json": `{"ok":true,"list":[1,2]}`}},
		},
		"context": map[string]any{"variables": map[string]any{"region": "eu", "a b": "spaced", "html": "<a&b>"}},
		"loop":    map[string]any{"item": map[string]any{"name": "x"}, "index": 1, "file": "b.go"},
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		// Literals.
		{"null", nil},
		{"true", true},
		{"false", false},
		{"0", 0.0},
		{"-1.5", -1.5},
		{"1e3", 1000.0},
		{"2E-2", 0.02},
		{"-0.25e+1", -2.5},
		{"'single'", "single"},
		{`"double"`, "double"},
		{`''`, ""},
		{`'it''s'`, "it's"},
		{`"say ""hi"""`, `say "hi"`},
		{`'\n\t\r\b\f\\\'\"\/'`, "\n\t\r\b\f\\'\"/"},
		{`"\u00e9\u00E9"`, "éé"},
		{`'\ud83d\ude00'`, "😀"},
		{`'\ud800x'`, "\ufffdx"},
		{"'${{ not a template }}'", "${{ not a template }}"},
		// Paths.
		{"workflow.input.repo", "ossa/platform"},
		{"steps.fetch-data.output.diff", "+x"},
		{"steps['fetch-data'].output.files[1]", "b.go"},
		{`steps["fetch-data"]['output'].files[0]`, "a.go"},
		{"steps .review .output.score", 0.9},
		{"context.variables['a b']", "spaced"},
		{"loop.item.name", "x"},
		{"steps.2nd-pass.output", "second"},
		{"steps.2nd-pass.-x", "minus"},
		{"loop.index", 1},
		{"workflow.input.tags[loop.index]", "b"},
		{"workflow.input.tags[1.0]", "b"},
		{"workflow.input.tags[ 0 ]", "a"},
		{"(workflow.input).repo", "ossa/platform"},
		{"fromJSON(steps.review.output.json).list[1]", 2.0},
		// Missing members and indexes are null.
		{"nope", nil},
		{"nope.a.b[0]", nil},
		{"workflow.nope", nil},
		{"workflow.input.tags[2]", nil},
		{"workflow.input.tags[-1]", nil},
		{"workflow.input.tags[0.5]", nil},
		{"workflow.input.tags['0']", nil},
		{"workflow.input.tags.x", nil},
		{"workflow.input.repo.x", nil},
		{"workflow.input.repo[0]", nil},
		{"workflow[0]", nil},
		{"workflow[null]", nil},
		// !
		{"!true", false},
		{"!null", true},
		{"!0", true},
		{"!''", true},
		{"!'x'", false},
		{"!!workflow.input.tags", true},
		// && and || short-circuit and give booleans.
		{"true && false", false},
		{"true && true", true},
		{"'a' && 'b'", true},
		{"'' && fromJSON('{')", false},
		{"false || 0", false},
		{"0 || 'x'", true},
		{"'x' || fromJSON('{')", true},
		// == and != compare JSON values.
		{"1 == 1.0", true},
		{"1 != 2", true},
		{"'a' == 'a'", true},
		{"'a' == 'A'", false},
		{"'1' == 1", false},
		{"null == null", true},
		{"null == false", false},
		{"0 == false", false},
		{"workflow.nope == null", true},
		{"steps.fetch-data.output.n == 2", true},
		{"loop.index == 1", true},
		{"workflow.input.tags == fromJSON('[\"a\",\"b\"]')", true},
		{"workflow.input.tags == fromJSON('[\"a\"]')", false},
		{"loop.item == fromJSON('{\"name\":\"x\"}')", true},
		{"loop.item != fromJSON('{\"name\":\"y\"}')", true},
		// Ordering: numbers numerically, strings lexically, others false.
		{"1 < 2", true},
		{"2 < 10", true},
		{"2 <= 2", true},
		{"3 > 2.5", true},
		{"2 >= 3", false},
		{"steps.fetch-data.output.n > 1", true},
		{"loop.index >= 1", true},
		{"'a' < 'b'", true},
		{"'B' < 'a'", true},
		{"'10' < '9'", true},
		{"1 < '2'", false},
		{"'2' > 1", false},
		{"null < 1", false},
		{"null >= null", false},
		{"true > false", false},
		// Precedence: ! > comparison > equality > && > ||.
		{"true || false && false", true},
		{"(true || false) && false", false},
		{"false && true || true", true},
		{"!true == false", true},
		{"!(1 < 2)", false},
		{"1 < 2 == 2 < 3", true},
		{"1 < 2 == true && 'a' != 'b'", true},
		{"steps.review.output.score > 0.8 && workflow.input.strict", true},
		// Functions.
		{"length('héllo')", 5.0},
		{"length(workflow.input.tags)", 2.0},
		{"length(loop.item)", 1.0},
		{"length(workflow.nope)", 0.0},
		{"length(3)", nil},
		{"contains('ossa/platform', 'plat')", true},
		{"contains('ossa/platform', 'Plat')", false},
		{"contains(workflow.input.tags, 'b')", true},
		{"contains(workflow.input.tags, 'c')", false},
		{"contains(fromJSON('[1,2]'), loop.index)", true},
		{"contains('a1', 1)", false},
		{"contains(null, 'a')", false},
		{"startsWith(workflow.input.repo, 'ossa/')", true},
		{"startsWith(workflow.input.repo, 'platform')", false},
		{"endsWith(loop.file, '.go')", true},
		{"endsWith(1, '1')", false},
		{"toJSON(loop.item)", `{"name":"x"}`},
		{"toJSON(context.variables.html)", `"<a&b>"`},
		{"toJSON(null)", "null"},
		{"toJson(1)", "1"},
		{"fromJSON('{\"a\":[true]}').a[0]", true},
		{"fromJSON(' 3 ')", 3.0},
		{"fromJSON(null)", nil},
		{"fromJSON(toJSON(workflow.input.tags)) == workflow.input.tags", true},
		{"default(workflow.nope, 'fallback')", "fallback"},
		{"default(workflow.input.none, 1)", 1.0},
		{"default(workflow.input.repo, fromJSON('{'))", "ossa/platform"},
		{"default(false, true)", false},
		{"DEFAULT(null, 2)", 2.0},
	}
	scope := testScope()
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		got, err := e.Eval(scope)
		if err != nil {
			t.Errorf("Eval(%q): %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Eval(%q) = %#v, want %#v", tt.src, got, tt.want)
		}
	}
}

func TestEvalNilScope(t *testing.T) {
	t.Parallel()
	e, err := Parse("workflow.input.x == null && !steps")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.Eval(nil); err != nil || got != true {
		t.Errorf("Eval(nil) = %v, %v; want true", got, err)
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"fromJSON('{')", "column 1: fromJSON: unexpected end of JSON input"},
		{"1 == 1 && fromJSON('[1,]')", "column 11: fromJSON: invalid character ']' looking for beginning of value"},
		{"toJSON(bad)", "column 1: toJSON: json: unsupported value: NaN"},
	}
	scope := map[string]any{"bad": []any{nan()}}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.src, err)
		}
		_, err = e.Eval(scope)
		var xe *Error
		if !errors.As(err, &xe) || xe.Src != tt.src || err.Error() != tt.want {
			t.Errorf("Eval(%q) error = %v (%#v), want %q", tt.src, err, xe, tt.want)
		}
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"", "column 1: empty expression"},
		{"   ", "column 1: empty expression"},
		{"a )", "column 3: unexpected ')'"},
		{"a &&", "column 5: unexpected end of expression"},
		{"(a", "column 3: unexpected end of expression"},
		{"a b", "column 3: unexpected name b"},
		{"a 'b'", "column 3: unexpected string 'b'"},
		{"a -1", "column 3: unexpected number -1"},
		{"a = b", "column 3: unexpected character '=' (equality is '==')"},
		{"a & b", "column 3: unexpected character '&' (and is '&&')"},
		{"a | b", "column 3: unexpected character '|' (or is '||')"},
		{"a[*]", "column 3: unexpected character '*' (wildcards are not supported)"},
		{"${{ a }}", "column 1: unexpected character '$' (${{ }} cannot appear inside an expression)"},
		{"a ≠ b", "column 3: unexpected character '≠'"},
		{"a - b", "column 3: unexpected character '-' (there is no subtraction)"},
		{"'abc", "column 1: unterminated string"},
		{`'abc\`, "column 1: unterminated string"},
		{`'a\qb'`, `column 3: invalid escape \q`},
		{`'\u12'`, `column 2: invalid escape: \u needs four hex digits`},
		{`'\u12g4'`, `column 2: invalid escape: \u needs four hex digits`},
		{"01", "column 1: invalid number 01"},
		{"+1", "column 1: unexpected character '+'"},
		{"2nd-pass", "column 1: invalid number 2nd-pass"},
		{"1.", "column 1: invalid number 1."},
		{"1.e3", "column 1: invalid number 1.e3"},
		{"1e", "column 1: invalid number 1e"},
		{"1x", "column 1: invalid number 1x"},
		{".5", "column 1: unexpected '.5'"},
		{"1e999", "column 1: number 1e999 is out of range"},
		{"a.", "column 2: expected a name after '.'"},
		{"a.b.", "column 4: expected a name after '.'"},
		{"a[0", "column 4: unexpected end of expression"},
		{"a[]", "column 3: unexpected ']'"},
		{"'s'.a", "column 4: unexpected '.a'"},
		{"true[0]", "column 5: unexpected '['"},
		{"nope(1)", "column 1: unknown function nope"},
		{"length(1, 2)", "column 1: length takes 1 argument, not 2"},
		{"contains(1)", "column 1: contains takes 2 arguments, not 1"},
		{"toJSON()", "column 1: toJSON takes 1 argument, not 0"},
		{"length(1,)", "column 10: unexpected ')'"},
		{"length(,1)", "column 8: unexpected ','"},
		{"a &&\n  )", "line 2, column 3: unexpected ')'"},
		{"'é' )", "column 5: unexpected ')'"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		var xe *Error
		if !errors.As(err, &xe) || xe.Src != tt.src {
			t.Errorf("Parse(%q) error = %#v, want an *Error on the source", tt.src, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error = %q, want %q", tt.src, err, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"a.b['c d'][0]", "a.b['c d'][0]"},
		{`"it's"`, `'it\'s'`},
		{`'a\nb\u0001\u007f\\'`, `'a\nb\u0001\u007f\\'`},
		{"1.50", "1.5"},
		{"1e21", "1e+21"},
		{"1E-7", "1e-7"},
		{"100000", "100000"},
		{"-0", "-0"},
		{"a&&b||!c", "a && b || !c"},
		{"(a||b)&&c", "(a || b) && c"},
		{"a&&(b&&c)", "a && (b && c)"},
		{"(a&&b)&&c", "a && b && c"},
		{"!(a==b)", "!(a == b)"},
		{"(!a)==b", "!a == b"},
		{"(a < b) == (c >= d)", "a < b == c >= d"},
		{"a < (b == c)", "a < (b == c)"},
		{"((a)).b", "a.b"},
		{"('s')[0]", "('s')[0]"},
		{"(a || b).c", "(a || b).c"},
		{"toJson( x ).y", "toJSON(x).y"},
		{"default(a,'b')", "default(a, 'b')"},
		{"a[b[c]]", "a[b[c]]"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.src, err)
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.src, got, tt.want)
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != tt.want {
			t.Errorf("Parse(%q) does not round-trip: %v", e.String(), err)
		}
	}
}

func TestRefs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []Ref
	}{
		{"steps.fetch-data.output.diff", []Ref{{"steps", []string{"fetch-data", "output", "diff"}, 0}}},
		{"loop", []Ref{{"loop", nil, 0}}},
		{"a['k'][0]['x y']", []Ref{{"a", []string{"k", "0", "x y"}, 0}}},
		{"workflow.input.tags[loop.index].x", []Ref{{"workflow", []string{"input", "tags"}, 0}, {"loop", []string{"index"}, 20}}},
		{"a[b[c.d]][e].f", []Ref{{"a", nil, 0}, {"b", nil, 2}, {"c", []string{"d"}, 4}, {"e", nil, 10}}},
		{"a[1.5].b", []Ref{{"a", nil, 0}}},
		{"length(steps.x.output) > 0 && context.variables.region == 'eu'",
			[]Ref{{"steps", []string{"x", "output"}, 7}, {"context", []string{"variables", "region"}, 30}}},
		{"a.b || a.b || !a.b.c", []Ref{{"a", []string{"b"}, 0}, {"a", []string{"b", "c"}, 15}}},
		{"fromJSON(steps.a.output.j).x", []Ref{{"steps", []string{"a", "output", "j"}, 9}}},
		{"(workflow.input).repo", []Ref{{"workflow", []string{"input", "repo"}, 1}}},
		{"'steps.nope' == steps['ok']", []Ref{{"steps", []string{"ok"}, 16}}},
		{"1 == 'a'", nil},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.src, err)
		}
		if got := e.Refs(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Refs(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
	// In a template, positions are offsets in the whole string.
	es, err := ParseTemplates("é ${{ a }} and ${{ 'x' || steps.b }}")
	if err != nil || len(es) != 2 {
		t.Fatalf("ParseTemplates: %v, %v", es, err)
	}
	if got := append(es[0].Refs(), es[1].Refs()...); !reflect.DeepEqual(got, []Ref{{"a", nil, 7}, {"steps", []string{"b"}, 27}}) {
		t.Errorf("template refs = %v", got)
	}
}

func TestTruthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want bool
	}{
		{nil, false}, {false, false}, {true, true},
		{0.0, false}, {0, false}, {json.Number("0"), false}, {nan(), false},
		{1.0, true}, {-1, true}, {json.Number("0.5"), true},
		{"", false}, {"false", true}, {"0", true},
		{[]any{}, true}, {map[string]any{}, true},
	}
	for _, tt := range tests {
		if got := Truthy(tt.v); got != tt.want {
			t.Errorf("Truthy(%#v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestCondition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want bool
	}{
		{"", true},
		{"  \n", true},
		{"true", true},
		{"${{ true }}", true},
		{"  ${{ false }}\n", false},
		{"${{ steps.review.output.score > 0.8 && workflow.input.strict }}", true},
		{"steps.review.output.score > 0.95", false},
		{"workflow.nope", false},
		{"0", false},
		{"''", false},
		{"'false'", true},
		{"workflow.input.tags", true},
		{"fromJSON('[]')", true},
		{"${{ '}}' == '}}' }}", true},
	}
	scope := testScope()
	for _, tt := range tests {
		got, err := Condition(tt.src, scope)
		if err != nil || got != tt.want {
			t.Errorf("Condition(%q) = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"${{ true }} && ${{ false }}", "column 12: a condition is one expression: wrap all of it in ${{ }} or none of it"},
		{"${{ true", "column 1: no '}}' closes this '${{'"},
		{"${{ 'a }}", "column 5: unterminated string"},
		{"${{ }}", "column 4: empty expression"},
		{"true && ${{ false }}", "column 9: unexpected character '$' (${{ }} cannot appear inside an expression)"},
		{"${{ a && }}", "column 10: unexpected end of expression"},
		{"${{ fromJSON('x') }}", "column 5: fromJSON: invalid character 'x' looking for beginning of value"},
	}
	for _, tt := range tests {
		_, err := Condition(tt.src, nil)
		var xe *Error
		if !errors.As(err, &xe) || xe.Src != tt.src || err.Error() != tt.want {
			t.Errorf("Condition(%q) error = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	scope := testScope()
	loopItem := scope["loop"].(map[string]any)["item"]
	tests := []struct {
		in   any
		want any
	}{
		// A string that is one template keeps the value's type.
		{"${{ workflow.input.count }}", 3.0},
		{"${{ loop.index }}", 1},
		{"${{workflow.input.strict}}", true},
		{"${{ workflow.nope }}", nil},
		{"${{ workflow.input.tags }}", []any{"a", "b"}},
		{"${{ loop.item }}", loopItem},
		{"${{ '}}' }}", "}}"},
		{"${{ '${{' }}", "${{"},
		// Otherwise templates are interpolated as text.
		{"repo ${{ workflow.input.repo }}!", "repo ossa/platform!"},
		{" ${{ workflow.input.count }}", " 3"},
		{"${{ workflow.input.count }}${{ workflow.input.count }}", "33"},
		{"[${{ workflow.nope }}]", "[]"},
		{"${{ workflow.input.strict }} ${{ 0.5 }} ${{ 1e21 }}", "true 0.5 1e+21"},
		{"tags=${{ workflow.input.tags }}", `tags=["a","b"]`},
		{"item=${{ loop.item }}", `item={"name":"x"}`},
		{"n=${{ steps.fetch-data.output.n }} i=${{ loop.index }}", "n=2 i=1"},
		{"html=${{ context.variables.html }} ${{ toJSON(context.variables.html) }}", `html=<a&b> "<a&b>"`},
		{"a '${{ \"}}\" }}' b", "a '}}' b"},
		{"no templates, $ { { }}", "no templates, $ { { }}"},
		// Maps and lists are rendered recursively; other values pass.
		{map[string]any{
			"repo":   "${{ workflow.input.repo }}",
			"files":  []any{"${{ steps.fetch-data.output.files[0] }}", 7.0, nil, "plain"},
			"nested": map[string]any{"${{ key }}": "${{ loop.index >= 1 }}"},
		}, map[string]any{
			"repo":   "ossa/platform",
			"files":  []any{"a.go", 7.0, nil, "plain"},
			"nested": map[string]any{"${{ key }}": true},
		}},
		{42.0, 42.0},
		{nil, nil},
		{map[string]any(nil), map[string]any(nil)},
	}
	for _, tt := range tests {
		got, err := Render(tt.in, scope)
		if err != nil {
			t.Errorf("Render(%#v): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Render(%#v) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestRenderDoesNotModify(t *testing.T) {
	t.Parallel()
	in := map[string]any{"a": []any{"${{ workflow.input.repo }}", map[string]any{"b": "${{ loop.index }}"}}}
	before, _ := json.Marshal(in)
	out, err := Render(in, testScope())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(in)
	if string(before) != string(after) {
		t.Errorf("Render modified its input: %s, was %s", after, before)
	}
	if got, _ := json.Marshal(out); string(got) != `{"a":["ossa/platform",{"b":1}]}` {
		t.Errorf("Render = %s", got)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{"${{ ) }}", "column 5: unexpected ')'"},
		{"ab ${{ a", "column 4: no '}}' closes this '${{'"},
		{"x ${{ fromJSON('{') }}", "column 7: fromJSON: unexpected end of JSON input"},
		{"x ${{ bad }}", "column 3: json: unsupported value: NaN"},
		{"x ${{ nan }}", "column 3: NaN is not a JSON number"},
		{map[string]any{"a": []any{"ok", "${{ a b }}"}}, "/a/1: column 7: unexpected name b"},
		{map[string]any{"a/b~": "${{ ( }}"}, "/a~1b~0: column 7: unexpected end of expression"},
		// The error reported is the one under the smallest key.
		{map[string]any{"z": "${{ ) }}", "b": "${{ ( }}", "k": "${{ ] }}", "c": "${{ [ }}"}, "/b: column 7: unexpected end of expression"},
	}
	scope := map[string]any{"bad": []any{nan()}, "nan": nan()}
	for _, tt := range tests {
		for range 5 { // map order varies
			_, err := Render(tt.in, scope)
			var xe *Error
			if !errors.As(err, &xe) || err.Error() != tt.want {
				t.Errorf("Render(%#v) error = %v, want %q", tt.in, err, tt.want)
				break
			}
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	v := map[string]any{
		"b": []any{"${{ w }}", 1.0, "plain"},
		"a": "${{ x }} and ${{ y.z }}",
		"c": map[string]any{"d": "${{ steps.s.output }}"},
	}
	got, err := Templates(v)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, e := range got {
		srcs = append(srcs, e.String())
	}
	if want := []string{"x", "y.z", "w", "steps.s.output"}; !reflect.DeepEqual(srcs, want) {
		t.Errorf("Templates = %q, want %q", srcs, want)
	}

	tests := []struct {
		in   any
		want string
	}{
		{"${{ ) }}", "column 5: unexpected ')'"},
		{map[string]any{"a": "ok", "b": []any{"x", "${{ x }} ${{ ) }}"}}, "/b/1: column 14: unexpected ')'"},
		{[]any{"${{ '"}, "/0: column 5: unterminated string"},
	}
	for _, tt := range tests {
		_, err := Templates(tt.in)
		var xe *Error
		if !errors.As(err, &xe) || err.Error() != tt.want {
			t.Errorf("Templates(%#v) error = %v, want %q", tt.in, err, tt.want)
		}
	}
	if got, err := Templates(map[string]any{"a": 1.0, "b": "no template"}); err != nil || len(got) != 0 {
		t.Errorf("Templates without templates = %v, %v", got, err)
	}
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	deep := func(open, mid, close string, n int) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	ok := []string{
		deep("(", "a", ")", MaxDepth),
		deep("!", "a", "", MaxDepth),
		deep("a[", "0", "]", MaxDepth),
		deep("length(", "a", ")", MaxDepth),
		"a" + strings.Repeat(" && a", (MaxLen-1)/5),
		strings.Repeat("a.", MaxLen/2-1) + "b",
	}
	for _, src := range ok {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%.40q...): %v", src, err)
			continue
		}
		if _, err := e.Eval(testScope()); err != nil {
			t.Errorf("Eval(%.40q...): %v", src, err)
		}
	}
	tooDeep := "the expression nests deeper than 64 levels"
	bad := []struct{ src, want string }{
		{deep("(", "a", ")", MaxDepth+1), tooDeep},
		{deep("(", "a", ")", 2000), tooDeep},
		{deep("!", "a", "", 4000), tooDeep},
		{deep("a[", "0", "]", 1000), tooDeep},
		{deep("toJSON(", "a", ")", 500), tooDeep},
		{deep("(", "a", ")", 1e6), "the expression is longer than 4096 bytes"},
		{strings.Repeat("a", MaxLen+1), "the expression is longer than 4096 bytes"},
	}
	for _, tt := range bad {
		_, err := Parse(tt.src)
		var xe *Error
		if !errors.As(err, &xe) || xe.Msg != tt.want {
			t.Errorf("Parse(%.40q...) error = %v, want %q", tt.src, err, tt.want)
		}
	}

	// Work is bounded: toJSON doubles a quoted string at every level, and
	// the other functions and comparisons can repeat work on large values.
	big := map[string]any{"s": strings.Repeat("x", 1<<20), "list": make([]any, 1<<20), "json": "[" + strings.Repeat("0,", 1<<20) + "0]"}
	costly := []string{
		deep("toJSON(", `'"'`, ")", 60),
		"list == list" + strings.Repeat(" && list == list", 16),
		"contains(list, 1)" + strings.Repeat(" || contains(list, 1)", 16),
		"fromJSON(json)" + strings.Repeat(" && fromJSON(json)", 8),
		"length(s)" + strings.Repeat(" && length(s)", 16),
		"contains(s, 'y')" + strings.Repeat(" || contains(s, 'y')", 16),
		"s < s" + strings.Repeat(" || s < s", 16),
	}
	for _, src := range costly {
		e, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Eval(big)
		var xe *Error
		if !errors.As(err, &xe) || !strings.Contains(err.Error(), "units of work allowed") {
			t.Errorf("Eval(%.40q...) error = %v, want the cost limit", src, err)
		}
	}
	if _, err := Render(strings.Repeat("${{ s }}", 17), big); err == nil || !strings.Contains(err.Error(), "units of work allowed") {
		t.Errorf("Render of 17 MiB error = %v, want the cost limit", err)
	}
	if out, err := Render(strings.Repeat("${{ s }}", 15), big); err != nil || len(out.(string)) != 15<<20 {
		t.Errorf("Render of 15 MiB: %v", err)
	}
	// A long string of templates, each within the limit, renders.
	many := strings.Repeat("${{ loop.index }},", 10000)
	if out, err := Render(many, testScope()); err != nil || out != strings.Repeat("1,", 10000) {
		t.Errorf("Render of 10000 templates: %v", err)
	}
}

// A typical step input: a few references, one interpolated prompt.
var benchInput = map[string]any{
	"repo":   "${{ workflow.input.repo }}",
	"prompt": "Review this change to ${{ workflow.input.repo }} in ${{ context.variables.region }}:\n${{ steps.fetch-data.output.diff }}",
	"files":  []any{"${{ steps.fetch-data.output.files }}", "${{ loop.file }}"},
	"strict": "${{ workflow.input.strict && steps.review.output.score > 0.8 }}",
	"limit":  10.0,
	"labels": map[string]any{"team": "platform", "run": "${{ loop.index }}"},
}

func BenchmarkRender(b *testing.B) {
	scope := testScope()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(benchInput, scope); err != nil {
			b.Fatal(err)
		}
	}
}
