package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	"github.com/ossa-platform/platform/manifest"
)

// agreeCase is a workflow that validation and the engine must judge
// alike.
type agreeCase struct {
	name string
	// spec is the manifest's spec, in YAML, each line indented by two
	// spaces; the manifest's first line of it is line 5.
	spec   string
	params string
	// For a workflow that cannot run: the diagnostic validation gives, as
	// its code and pointer, and the text its position points at.
	code, pointer, at string
	// For one that runs: the value the run's output holds at path.
	path []string
	want any
}

var agreeCases = []agreeCase{
	// Expressions that look like references, or wrong, and run.
	{name: "a string literal that looks like a reference", spec: `
  steps:
    - {id: a, ref: echo, input: {x: "${{ 'steps.nope.output' }}"}}`,
		path: []string{"a", "input", "x"}, want: "steps.nope.output"},
	{name: "a literal naming an input not declared", spec: `
  inputs: {type: object, properties: {n: {type: number}}}
  steps:
    - {id: a, ref: echo, input: {x: "${{ \"workflow.input.nope\" }} ${{ workflow.input.n }}"}}`,
		params: `{"n": 3}`, path: []string{"a", "input", "x"}, want: "workflow.input.nope 3"},
	{name: "bracket access to a step, which orders the steps", spec: `
  steps:
    - {id: b, ref: echo, input: {x: "${{ steps['a'].output.from }}"}}
    - {id: a, ref: echo}`,
		path: []string{"b", "input", "x"}, want: "echo"},
	{name: "text, quotes and braces around templates", spec: `
  steps:
    - id: a
      ref: echo
      input: {x: "a ${{ '}}' }} b ${{ 'it''s' }} c ${{ \"say \\\"hi\\\"\" }} d ${{ '\u00e9' }}"}`,
		path: []string{"a", "input", "x"}, want: `a }} b it's c say "hi" d é`},
	{name: "unicode around and inside templates", spec: `
  steps:
    - {id: a, ref: echo, input: {x: "é ${{ 'ü' }} ${{ length('😀é') }}"}}`,
		path: []string{"a", "input", "x"}, want: "é ü 2"},
	{name: "a member of a step's output that may not exist", spec: `
  steps:
    - {id: a, ref: echo}
    - {id: b, ref: echo, input: {x: "${{ steps.a.output.any.thing[0] }}", d: "${{ default(steps.a.output.none, 'd') }}"}}`,
		path: []string{"b", "input", "d"}, want: "d"},
	{name: "an input the schema allows without declaring it", spec: `
  inputs: {type: object, properties: {n: {type: number}}, additionalProperties: true}
  steps:
    - {id: a, ref: echo, input: {x: "${{ workflow.input.extra }}"}}`,
		params: `{"extra": "yes"}`, path: []string{"a", "input", "x"}, want: "yes"},
	{name: "any input when the schema declares none", spec: `
  steps:
    - {id: a, ref: echo, input: {x: "${{ workflow.input['any key'] }}"}}`,
		params: `{"any key": 1}`, path: []string{"a", "input", "x"}, want: 1.0},
	{name: "context variables, by member and by key", spec: `
  context: {variables: {region: eu, "a b": spaced}}
  steps:
    - {id: a, ref: echo, input: {x: "${{ context.variables.region }}-${{ context.variables['a b'] }}"}}`,
		path: []string{"a", "input", "x"}, want: "eu-spaced"},
	{name: "conditions with and without their wrapper", spec: `
  steps:
    - {id: a, ref: echo, condition: "workflow.input.go == true"}
    - {id: b, ref: echo, condition: "${{ steps.a.status == 'skipped' && !workflow.input.go }}"}
    - {id: c, ref: echo, input: {x: "${{ steps.a.status }}/${{ steps.b.status }}"}}`,
		params: `{"go": false}`, path: []string{"c", "input", "x"}, want: "skipped/succeeded"},
	{name: "nested loops, each item by its as name", spec: `
  steps:
    - id: outer
      loop: {over: "${{ fromJSON('[1, 2]') }}", as: x}
      steps:
        - id: inner
          loop: {over: "${{ workflow.input.ys }}", as: y}
          steps:
            - {id: cell, ref: echo, input: {y: "${{ loop.y }}", i: "${{ loop.index }}", item: "${{ loop.item }}"}}`,
		params: `{"ys": ["p", "q"]}`, path: []string{"outer", "1", "1", "input", "y"}, want: "q"},
	{name: "a sibling of the step that holds this one", spec: `
  steps:
    - id: fan
      parallel:
        - {id: left, ref: echo, input: {up: "${{ steps.first.output.from }}"}}
    - {id: first, ref: echo}`,
		path: []string{"fan", "left", "input", "up"}, want: "echo"},
	{name: "a loop over a constant list of the context", spec: `
  context: {variables: {list: [1, 2, 3]}}
  steps:
    - id: each
      loop: {over: context.variables.list}
      steps: [{id: s, ref: echo, input: {i: "${{ loop.item }}"}}]`,
		path: []string{"each", "2", "input", "i"}, want: 3.0},
	{name: "on_error as a plain string in v0.5", spec: `
  steps:
    - {id: a, ref: echo, on_error: continue}`,
		path: []string{"a", "from"}, want: "echo"},

	// Workflows that cannot run: refused by validation, where the problem
	// is, and by the engine, at the same pointer.
	{name: "bracket access to a step that does not exist", spec: `
  steps:
    - {id: a, ref: echo, input: {x: "${{ steps['nope'].output }}"}}`,
		code: "unknown-step", pointer: "/spec/steps/0/input/x", at: "steps['nope']"},
	{name: "a member access to a step that does not exist", spec: `
  steps:
    - {id: a, ref: echo, condition: "steps.nope.output.ok"}`,
		code: "unknown-step", pointer: "/spec/steps/0/condition", at: "steps.nope"},
	{name: "a Loop whose steps are inside loop", spec: `
  steps:
    - id: l
      kind: Loop
      loop:
        over: ${{ workflow.input.items }}
        steps: [{id: s, ref: echo}]`,
		code: "invalid-step", pointer: "/spec/steps/0/loop/steps", at: "[{id: s"},
	{name: "an on_failure the gateway does not carry out", spec: `
  error_handling: {on_failure: rollback}
  steps: [{id: a, ref: echo}]`,
		code: "unsupported-action", pointer: "/spec/error_handling/on_failure", at: "rollback"},
	{name: "an on_error action the gateway does not carry out", spec: `
  steps: [{id: a, ref: echo, on_error: {action: goto, goto: a}}]`,
		code: "unsupported-action", pointer: "/spec/steps/0/on_error/action", at: "goto"},
	{name: "an input the schema does not declare", spec: `
  inputs: {type: object, properties: {n: {type: number}}}
  steps: [{id: a, ref: echo, input: {x: "n=${{ workflow.input.m }}"}}]`,
		code: "unknown-input", pointer: "/spec/steps/0/input/x", at: "workflow.input.m"},
	{name: "loop outside a loop", spec: `
  steps: [{id: a, ref: echo, input: {x: "${{ loop.item }}"}}]`,
		code: "unknown-reference", pointer: "/spec/steps/0/input/x", at: "loop.item"},
	{name: "an outer loop's item inside an inner loop", spec: `
  steps:
    - id: outer
      loop: {over: "${{ fromJSON('[1]') }}", as: x}
      steps:
        - id: inner
          loop: {over: "${{ fromJSON('[2]') }}", as: y}
          steps: [{id: cell, ref: echo, input: {x: "${{ loop.x }}"}}]`,
		code: "unknown-reference", pointer: "/spec/steps/0/steps/0/steps/0/input/x", at: "loop.x"},
	{name: "a step nested in another step", spec: `
  steps:
    - {id: fan, parallel: [{id: left, ref: echo}]}
    - {id: b, ref: echo, input: {x: "${{ steps.left.output }}"}}`,
		code: "unknown-step", pointer: "/spec/steps/1/input/x", at: "steps.left"},
	{name: "a cycle through expressions only", spec: `
  steps:
    - {id: a, ref: echo, input: {x: "${{ steps.b.output }}"}}
    - {id: b, ref: echo, input: {x: "${{ steps.a.output }}"}}`,
		code: "dependency-cycle", pointer: "/spec/steps/0/input/x", at: "steps.b"},
	{name: "a step reading itself", spec: `
  steps: [{id: a, ref: echo, input: {x: "${{ steps.a.status }}"}}]`,
		code: "unknown-step", pointer: "/spec/steps/0/input/x", at: "steps.a"},
	{name: "depends_on a step that is not a sibling", spec: `
  steps:
    - {id: fan, parallel: [{id: left, ref: echo}]}
    - {id: b, ref: echo, depends_on: [left]}`,
		code: "unknown-dependency", pointer: "/spec/steps/1/depends_on/0", at: "left]"},
	{name: "a syntax error", spec: `
  steps: [{id: a, ref: echo, input: {x: "${{ a = b }}"}}]`,
		code: "invalid-expression", pointer: "/spec/steps/0/input/x", at: "= b"},
	{name: "an unterminated template", spec: `
  steps: [{id: a, ref: echo, input: {x: "é ${{ workflow.input"}}]`,
		code: "invalid-expression", pointer: "/spec/steps/0/input/x", at: "${{ workflow"},
	{name: "a constant that fails in every run", spec: `
  steps: [{id: a, ref: echo, input: {x: "${{ fromJSON('{') }}"}}]`,
		code: "invalid-expression", pointer: "/spec/steps/0/input/x", at: "fromJSON"},
	{name: "a loop over a constant that is no list", spec: `
  context: {variables: {region: eu}}
  steps:
    - id: each
      loop: {over: "${{ context.variables.region }}"}
      steps: [{id: s, ref: echo}]`,
		code: "invalid-expression", pointer: "/spec/steps/0/loop/over", at: `"${{ context`},
	{name: "an input that is not an object", spec: `
  steps: [{id: a, ref: echo, input: "${{ workflow.input }}"}]`,
		code: "invalid-step", pointer: "/spec/steps/0/input", at: `"${{ workflow.input }}"`},
	{name: "a Conditional's steps, which it never runs", spec: `
  steps:
    - id: c
      branches: [{condition: "true", steps: [{id: y, ref: echo}]}]
      steps: [{id: w, ref: echo}]`,
		code: "invalid-step", pointer: "/spec/steps/0/steps", at: "[{id: w"},
	{name: "an unknown root", spec: `
  steps: [{id: a, ref: echo, input: {x: "${{ input.repo }}"}}]`,
		code: "unknown-reference", pointer: "/spec/steps/0/input/x", at: "input.repo"},
	{name: "compensate written as a plain string", spec: `
  steps: [{id: a, ref: echo, on_error: compensate}]`,
		code: "invalid-step", pointer: "/spec/steps/0/on_error", at: "compensate"},
	{name: "a timeout that is not a number", spec: `
  steps: [{id: a, ref: echo, timeout_seconds: "10"}]`,
		code: "invalid-step", pointer: "/spec/steps/0/timeout_seconds", at: `"10"`},
}

// TestValidatorAndEngineAgree checks, for workflows with tricky
// expressions and placements, that validation (what ossa validate and
// POST /api/v1/workflows run) says valid exactly when the engine accepts
// the workflow's definition, and that a valid one then runs to its end
// over real HTTP agents: nothing the compiler could have known makes it
// fail. A refused one is refused by both at the same pointer, and
// validation locates the problem in the manifest.
func TestValidatorAndEngineAgree(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", engine.Config{})
	e.agent("echo", []string{"echo"}, echo("echo"))
	ctx := context.Background()
	for _, c := range agreeCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := "apiVersion: ossa/v0.5\nkind: Workflow\nmetadata: {name: agree}\nspec:" + c.spec + "\n"
			docs, err := manifest.Parse("agree.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			res := manifest.Validate(docs[0])
			def, _ := docs[0].Root.MarshalJSON()
			run, runErr := e.eng.NewRun(ctx, platform.DefaultNamespace, &platform.Workflow{Name: "agree", Definition: def}, nil,
				json.RawMessage(c.params))
			if res.Valid() != (runErr == nil) {
				t.Fatalf("validation says valid %v: %v; the engine says %v", res.Valid(), res.Diagnostics, runErr)
			}
			if c.code != "" {
				checkRefused(t, src, c, res, runErr)
				return
			}
			if !res.Valid() {
				t.Fatalf("refused: %v", res.Diagnostics)
			}
			if err := e.db.CreateRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			r := e.wait(run.ID, 20*time.Second)
			if r.Status != platform.RunSucceeded {
				t.Fatalf("the run %s: %s", r.Status, dump(r))
			}
			var out any
			if err := json.Unmarshal(r.Output, &out); err != nil {
				t.Fatal(err)
			}
			if got := at(out, c.path); !reflect.DeepEqual(got, c.want) {
				t.Errorf("output at %v is %#v, want %#v: %s", c.path, got, c.want, r.Output)
			}
		})
	}
}

// checkRefused checks that validation names the problem, at its place in
// the manifest, and that the engine names the same pointer.
func checkRefused(t *testing.T, src string, c agreeCase, res *manifest.Result, runErr error) {
	t.Helper()
	var found *manifest.Diagnostic
	for i, d := range res.Diagnostics {
		if d.Code == c.code && d.Pointer == c.pointer {
			found = &res.Diagnostics[i]
			break
		}
	}
	if found == nil {
		t.Fatalf("no %s at %s: %v", c.code, c.pointer, res.Diagnostics)
	}
	lines := strings.Split(src, "\n")
	if found.Pos.Line < 1 || found.Pos.Line > len(lines) {
		t.Fatalf("%s is at line %d", found.Format("agree.yaml"), found.Pos.Line)
	}
	line := []rune(lines[found.Pos.Line-1])
	if col := found.Pos.Column; col < 1 || col > len(line) || !strings.HasPrefix(string(line[col-1:]), c.at) {
		t.Errorf("%s points at %q, want %q", found.Format("agree.yaml"), string(line[min(max(col-1, 0), len(line)):]), c.at)
	}
	pe, ok := runErr.(*platform.Error)
	if !ok || pe.Code != platform.EINVALID {
		t.Fatalf("the engine's error %v is not EINVALID", runErr)
	}
	var fields []string
	for _, f := range pe.Fields {
		if f.Field == "/workflow"+c.pointer {
			return
		}
		fields = append(fields, f.Field+": "+f.Message)
	}
	t.Errorf("the engine does not name /workflow%s: %s", c.pointer, strings.Join(fields, "; "))
}

// at walks a decoded JSON value by member names and list indexes.
func at(v any, path []string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
