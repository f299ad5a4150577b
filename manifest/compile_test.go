package manifest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of this package (testdata/compile, testdata/diagnostics.golden)")

func readDoc(t *testing.T, path string) *Document {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Parse(filepath.Base(path), data)
	if err != nil {
		t.Fatal(err)
	}
	return docs[0]
}

// TestCompileGolden validates the workflows of testdata/compile and
// compares what `ossa validate` would print with the .golden file beside
// each: every problem with its position (inside the string, for an
// expression) and its code.
func TestCompileGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/compile/*.yaml")
	if len(files) < 3 {
		t.Fatalf("testdata/compile holds %d workflows", len(files))
	}
	for _, f := range files {
		doc := readDoc(t, f)
		var b strings.Builder
		for _, d := range Validate(doc).Diagnostics {
			fmt.Fprintf(&b, "%s [%s]\n", d.Format(filepath.Base(f)), d.Code)
		}
		golden := strings.TrimSuffix(f, ".yaml") + ".golden"
		if *update {
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if b.String() != string(want) {
			t.Errorf("%s: got\n%s\nwant\n%s", f, b.String(), want)
		}
	}
}

// TestCompilePlan checks what a workflow that compiles becomes: kinds,
// the siblings each step waits for (a container waits for what its nested
// steps read, a compensated step for what its compensation reads) and the
// parsed expressions.
func TestCompilePlan(t *testing.T) {
	t.Parallel()
	pl, ds := CompileWorkflow(readDoc(t, "testdata/compile/valid.yaml").Root)
	if pl == nil || len(ds) != 0 {
		t.Fatalf("plan %v, diagnostics %v", pl, ds)
	}
	steps := map[string]*PlanStep{}
	var walk func(g []*PlanStep)
	walk = func(g []*PlanStep) {
		for _, s := range g {
			steps[s.Step.ID] = s
			for _, c := range s.Children {
				walk(c)
			}
			if s.Compensation != nil {
				walk([]*PlanStep{s.Compensation})
			}
		}
	}
	walk(pl.Steps)
	for id, want := range map[string]string{
		"first": "Agent []", "second": "Agent [first]", "fan": "Parallel [second]", "left": "Agent []",
		"right": "Agent [left]", "each": "Loop [first]", "rows": "Loop []", "cell": "Agent []",
		"pick": "Conditional [each]", "undoable": "Agent [pick]", "undo": "Agent []",
	} {
		s := steps[id]
		if s == nil {
			t.Errorf("no step %s", id)
			continue
		}
		if got := fmt.Sprintf("%s %v", s.Kind, s.Deps); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if s := steps["second"]; s.Condition == nil || s.Condition.String() != "steps['first'].status == 'succeeded' && !(steps.first.output.x == null)" {
		t.Errorf("second's condition: %v", s.Condition)
	}
	if s := steps["each"]; s.Over == nil || s.Over.String() != "context.variables.list" || steps["pick"].Branches[0] == nil {
		t.Errorf("each's over %v, pick's branches %v", s.Over, steps["pick"].Branches)
	}
	if s := steps["undoable"]; s.OnError != "compensate" || s.Compensation.Pointer != "/spec/steps/5/on_error/compensation" {
		t.Errorf("undoable: %s %+v", s.OnError, s.Compensation)
	}
	if got := steps["first"].Step.Input["mixed"]; got != "a ${{ workflow.input.n }} b ${{ '}}' }} c ${{ 'it''s' }}" {
		t.Errorf("input is kept as written, got %v", got)
	}
}

// TestCompileDefinitionAgrees compiles each test workflow twice, as
// validation does (from the document) and as the engine does (from the
// JSON definition stored with a run): same problems, same pointers.
func TestCompileDefinitionAgrees(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/compile/*.yaml")
	files = append(files, "testdata/workflow-bad.yaml")
	for _, f := range files {
		assertDefinitionAgrees(t, readDoc(t, f))
	}
}

func assertDefinitionAgrees(t *testing.T, doc *Document) {
	t.Helper()
	fromDoc, ds1 := CompileWorkflow(doc.Root)
	def, _ := doc.Root.MarshalJSON()
	fromDef, ds2 := CompileDefinition(def)
	strip := func(ds []Diagnostic) string {
		var b strings.Builder
		for _, d := range ds {
			fmt.Fprintf(&b, "%s %s %s\n", d.Code, d.Pointer, d.Message)
		}
		return b.String()
	}
	// The document's are in the order of its lines, the definition's in
	// the order they were found: compare them as sets.
	a, b := strings.Split(strip(ds1), "\n"), strings.Split(strip(ds2), "\n")
	slices.Sort(a)
	slices.Sort(b)
	if strings.Join(a, "\n") != strings.Join(b, "\n") || (fromDoc == nil) != (fromDef == nil) {
		t.Errorf("%s: from the document\n%s\nfrom its definition\n%s", doc.File, strip(ds1), strip(ds2))
	}
}

// TestPosAt locates offsets inside strings written in each style.
func TestPosAt(t *testing.T) {
	t.Parallel()
	src := "a: x ${{ b }}\n" + // plain
		"c: \"é ${{ d }}\"\n" + // double-quoted, a character of two bytes before
		"e: 'f ${{ g }}'\n" + // single-quoted
		"h: \"\\u00e9 ${{ i }}\"\n" + // an escape: the string's own position
		"j: 'it''s ${{ k }}'\n" + // a doubled quote: likewise
		"l: |\n  ${{ m }}\n" + // a block: likewise
		"n: [\"${{ o }}\", '${{ p }}']\n" + // in a flow sequence
		"q: \"a\n  ${{ r }}\"\n" // folded onto two lines
	docs, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	root := docs[0].Root
	for _, tt := range []struct {
		ptr, ref string
		want     Pos
	}{
		{"/a", "b", Pos{1, 10}},
		{"/c", "d", Pos{2, 11}},
		{"/e", "g", Pos{3, 11}},
		{"/h", "i", Pos{4, 4}},
		{"/j", "k", Pos{5, 4}},
		{"/l", "m", Pos{6, 4}},
		{"/n/0", "o", Pos{8, 10}},
		{"/n/1", "p", Pos{8, 22}},
		{"/q", "r", Pos{9, 4}},
	} {
		n := root.At(tt.ptr)
		i := strings.Index(n.Text, "${{ "+tt.ref)
		if got := n.PosAt(i + 4); got != tt.want {
			t.Errorf("%s %q: %v, want %v", tt.ptr, n.Text, got, tt.want)
		}
	}
	if got := (*Node)(nil).PosAt(3); got != (Pos{}) {
		t.Errorf("nil node: %v", got)
	}
}

// TestValidateDropsSchemaRepeats checks that a problem the schema of the
// release reports is not reported again by the compiler, while what only
// the compiler knows still is.
func TestValidateDropsSchemaRepeats(t *testing.T) {
	t.Parallel()
	src := `apiVersion: ossa/v0.4.6
kind: Workflow
metadata: {name: w}
spec:
  steps:
    - kind: Agent
      input: "${{ x }}"
    - id: b
      kind: Teleport
    - id: c
      ref: echo
      timeout_seconds: soon
      input: {v: "${{ steps.ghost.output }}"}
`
	docs, err := Parse("w.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range Validate(docs[0]).Diagnostics {
		got = append(got, d.Code+" "+d.Pointer)
	}
	want := []string{
		"schema /spec/steps/0", "schema /spec/steps/0/input", "schema /spec/steps/1/kind", "schema /spec/steps/2/timeout_seconds",
		// The step without an id needs a ref too, which no schema says.
		"invalid-step /spec/steps/0",
		"unknown-step /spec/steps/2/input/v",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDeclaredInputs checks when a reference to an undeclared input is
// refused: only when the inputs schema declares properties and allows no
// others.
func TestDeclaredInputs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		inputs string
		ok     bool // may workflow.input.other be read
	}{
		{`{type: object, properties: {repo: {type: string}}}`, false},
		{`{type: object, properties: {repo: {type: string}}, additionalProperties: false}`, false},
		{`{type: object, properties: {repo: {type: string}}, required: [other]}`, true},
		{`{type: object, properties: {repo: {type: string}}, additionalProperties: true}`, true},
		{`{type: object, properties: {repo: {type: string}}, additionalProperties: {type: string}}`, true},
		{`{type: object, properties: {repo: {type: string}}, patternProperties: {"^o": {}}}`, true},
		{`{type: object, properties: {repo: {type: string}}, allOf: [{properties: {other: {}}}]}`, true},
		{`{type: object}`, true},
		{`{}`, true},
	} {
		src := "apiVersion: ossa/v0.5\nkind: Workflow\nmetadata: {name: w}\nspec:\n  inputs: " + tt.inputs +
			"\n  steps: [{id: a, ref: echo, input: {v: \"${{ workflow.input.other }} ${{ workflow.input.repo }}\"}}]\n"
		docs, err := Parse("w.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if r := Validate(docs[0]); r.Valid() != tt.ok {
			t.Errorf("inputs %s: valid %v, want %v: %v", tt.inputs, r.Valid(), tt.ok, r.Diagnostics)
		}
	}
}

// TestCompileDefinitionNotJSON checks the engine's view of a definition
// that is not a workflow at all.
func TestCompileDefinitionNotJSON(t *testing.T) {
	t.Parallel()
	for def, want := range map[string]string{
		`{"spec": `:   " must be an OSSA Workflow in JSON: unexpected EOF",
		`{} {}`:       " must be an OSSA Workflow in JSON: more than one JSON value",
		`[1]`:         " must be an OSSA Workflow: an object, not an array",
		`{"kind": 3}`: "/kind must be a string, not a number",
		`{"spec": {"steps": [{"id": "a", "ref": "x", "timeout_seconds": 1e999}]}}`:       "/spec/steps/0/timeout_seconds the number 1e999 is out of range",
		`{"spec": {"steps": [{"id": "a", "ref": "x", "input": {"n": 1e999}}]}}`:          "/spec/steps/0/input/n the number 1e999 is out of range",
		`{"spec": {"steps": [{"id": "a", "ref": "x", "retry": {"max_attempts": 2.5}}]}}`: "/spec/steps/0/retry/max_attempts must be an integer, not a number",
	} {
		pl, ds := CompileDefinition([]byte(def))
		if pl != nil || len(ds) == 0 || ds[0].Pointer+" "+ds[0].Message != want {
			t.Errorf("%s: %v %v, want %q", def, pl, ds, want)
		}
	}
}
