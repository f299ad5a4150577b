package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/expr"
)

// Codes of the problems the workflow compilation finds beyond those the
// checks of checks.go already named (duplicate-step-id, unknown-dependency,
// dependency-cycle, unknown-input, unknown-step, unknown-variable).
const (
	// CodeInvalidWorkflow: the workflow, outside its steps, is not one the
	// engine can run (no steps, a member of the wrong type, an inputs
	// schema that does not compile).
	CodeInvalidWorkflow = "invalid-workflow"
	// CodeInvalidStep: a step the engine cannot run as written (no id, no
	// agent, a kind without what it needs, nested steps it would never
	// run, a member of the wrong type).
	CodeInvalidStep = "invalid-step"
	// CodeInvalidExpression: an expression that does not parse, or whose
	// constant parts always fail.
	CodeInvalidExpression = "invalid-expression"
	// CodeUnknownReference: an expression reads something that never
	// exists where it is read (an unknown root, workflow.x, loop outside a
	// loop, a step's member other than output and status, a step nested
	// elsewhere).
	CodeUnknownReference = "unknown-reference"
	// CodeUnsupportedAction: an on_failure or on_error action the gateway
	// does not carry out.
	CodeUnsupportedAction = "unsupported-action"
)

// Step kinds. A step without a kind is inferred from what it holds.
const (
	KindAgent       = "Agent"
	KindTask        = "Task"
	KindParallel    = "Parallel"
	KindConditional = "Conditional"
	KindLoop        = "Loop"
)

// Plan is a Workflow compiled for the engine: every step with its kind,
// the sibling steps it waits for and its parsed expressions, checked once.
// A Plan never changes after CompileWorkflow returns it.
type Plan struct {
	// Workflow is the typed view the plan was compiled from.
	Workflow *Workflow
	Steps    []*PlanStep
	// HaltOnFailure is spec.error_handling.on_failure halt (the default)
	// rather than continue.
	HaltOnFailure bool
	Inputs        *InputSchema
}

// PlanStep is one compiled step.
type PlanStep struct {
	Step *Step
	// Kind is the step's kind, inferred when the step names none.
	Kind string
	// Pointer is the step's JSON pointer in the workflow.
	Pointer string
	// Deps are the sibling steps it waits for: those of depends_on, then
	// those its expressions, or its nested steps' and its compensation's,
	// read.
	Deps []string
	// Children are the nested groups: a Parallel's parallel, a Loop's
	// steps, a Conditional's branches (one group each) and else (last).
	Children [][]*PlanStep
	// OnError is fail, continue or compensate.
	OnError      string
	Compensation *PlanStep
	// Condition is nil when the step always runs.
	Condition *expr.Expr
	// Over is a Loop's loop.over.
	Over *expr.Expr
	// Branches are a Conditional's branch conditions, in order.
	Branches []*expr.Expr
}

// constBudget is the work (in expr.MaxCost units) one compilation may
// spend evaluating the expressions whose value is known beforehand, so
// that checking a hostile manifest stays cheap; those left when it runs
// out are not evaluated.
const constBudget = 1 << 20

// CompileWorkflow compiles the Workflow manifest whose root is root into
// what the engine runs, and reports every problem with its JSON pointer and
// position (inside the string, for an expression's). The plan is nil when
// any problem is an error. Validate runs it for every Workflow document;
// the engine runs it on a run's definition, so a workflow that validates
// is one the engine runs.
func CompileWorkflow(root *Node) (*Plan, []Diagnostic) {
	pl, out := compileWorkflow(root)
	ds := make([]Diagnostic, len(out))
	for i, d := range out {
		ds[i] = d.Diagnostic
	}
	return pl, ds
}

func compileWorkflow(root *Node) (*Plan, []compileDiag) {
	c := &compilation{root: root, typeBad: map[string]bool{}, where: map[string]string{}, budget: constBudget}
	pl := c.workflow()
	// In the order of the document, when it has positions.
	slices.SortStableFunc(c.out, func(a, b compileDiag) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Column - b.Pos.Column
	})
	if slices.ContainsFunc(c.out, func(d compileDiag) bool { return d.Severity == SeverityError }) {
		return nil, c.out
	}
	return pl, c.out
}

// CompileDefinition compiles a workflow definition stored as JSON, as a
// run freezes it; its problems have pointers but no positions.
func CompileDefinition(def json.RawMessage) (*Plan, []Diagnostic) {
	root, err := parseJSON(def)
	if err != nil {
		return nil, []Diagnostic{{Severity: SeverityError, Code: CodeInvalidWorkflow,
			Message: "must be an OSSA Workflow in JSON: " + err.Error()}}
	}
	return CompileWorkflow(root)
}

// compilation is the state of compiling one workflow.
type compilation struct {
	root *Node
	out  []compileDiag
	// typeBad holds the pointers of members of the wrong type, about
	// which nothing more is said.
	typeBad map[string]bool
	// where is the pointer of every step id (the first step with it).
	where map[string]string
	// inputs are the members spec.inputs declares, nil when any may be
	// read; vars is spec.context.variables.
	inputs map[string]bool
	vars   map[string]any
	// consts is what an expression can read before the run starts: the
	// context variables.
	consts map[string]any
	budget int
}

// compileDiag is a diagnostic and whether the schema may have said the
// same: Validate keeps only the schema's then.
type compileDiag struct {
	Diagnostic
	// sameAsSchema: drop it when the schema reported a problem at its
	// pointer; missing: when the schema reported one at its parent (where
	// a schema reports a missing member).
	sameAsSchema, missing bool
}

func (c *compilation) add(d compileDiag, format string, args ...any) {
	d.Severity = SeverityError
	d.Message = fmt.Sprintf(format, args...)
	if d.Pos == (Pos{}) {
		d.Pos = c.root.At(d.Pointer).Pos
	}
	c.out = append(c.out, d)
}

// report adds an error at ptr, located at the node ptr names.
func (c *compilation) report(code, ptr, format string, args ...any) {
	c.add(compileDiag{Diagnostic: Diagnostic{Code: code, Pointer: ptr}}, format, args...)
}

// reportAt adds an error at ptr, located at pos.
func (c *compilation) reportAt(code, ptr string, pos Pos, format string, args ...any) {
	c.add(compileDiag{Diagnostic: Diagnostic{Code: code, Pointer: ptr, Pos: pos}}, format, args...)
}

// reportSchema adds an error the schema of the document's release may
// have reported at the same pointer.
func (c *compilation) reportSchema(code, ptr, format string, args ...any) {
	c.add(compileDiag{Diagnostic: Diagnostic{Code: code, Pointer: ptr}, sameAsSchema: true}, format, args...)
}

// required adds an error about a missing member.
func (c *compilation) required(code, ptr, format string, args ...any) {
	c.add(compileDiag{Diagnostic: Diagnostic{Code: code, Pointer: ptr}, missing: true}, format, args...)
}

func (c *compilation) typeProblem(code, ptr, format string, args ...any) {
	c.typeBad[ptr] = true
	c.reportSchema(code, ptr, format, args...)
}

func (c *compilation) decode(n *Node, v any, ptr, code string) {
	d := decoder{report: c.typeProblem}
	d.decode(n, reflect.ValueOf(v).Elem(), ptr, code)
}

func (c *compilation) workflow() *Plan {
	if c.root.kind() != Object {
		c.report(CodeInvalidWorkflow, "", "must be an OSSA Workflow: an object, not %s", article(c.root.kind()))
		return nil
	}
	var wf Workflow
	c.decode(c.root, &wf, "", CodeInvalidWorkflow)
	if k := c.root.Get("kind"); k.kind() == String && k.Text != "Workflow" {
		c.reportSchema(CodeInvalidWorkflow, "/kind", "must be 'Workflow', not %q", k.Text)
	}
	pl := &Plan{Workflow: &wf, HaltOnFailure: true}
	spec := c.root.Get("spec")
	if eh := wf.Spec.ErrorHandling; eh != nil {
		switch eh.OnFailure {
		case "", "halt":
		case "continue":
			pl.HaltOnFailure = false
		default:
			c.reportSchema(CodeUnsupportedAction, "/spec/error_handling/on_failure",
				"%q is not supported by this gateway; use 'halt' or 'continue'", eh.OnFailure)
		}
	}
	inputs, err := CompileInputs(wf.Spec.Inputs)
	if err != nil {
		c.report(CodeInvalidWorkflow, "/spec/inputs", "%s", err)
	}
	pl.Inputs = inputs
	c.inputs = declaredInputs(spec.Get("inputs"))
	vars := map[string]any{}
	if wf.Spec.Context != nil && wf.Spec.Context.Variables != nil {
		vars = wf.Spec.Context.Variables
	}
	c.vars = vars
	c.consts = map[string]any{"context": map[string]any{"variables": vars}}

	steps := spec.Get("steps")
	switch {
	case c.typeBad["/spec/steps"] || c.typeBad["/spec"]:
	case steps == nil || steps.Kind == Null:
		c.required(CodeInvalidWorkflow, "/spec/steps", "must have at least one step")
	case len(wf.Spec.Steps) == 0:
		c.reportSchema(CodeInvalidWorkflow, "/spec/steps", "must have at least one step")
	}
	c.unique(wf.Spec.Steps, "/spec/steps", map[string]string{})
	pl.Steps = c.group(wf.Spec.Steps, steps, "/spec/steps", nil, nil, nil)
	return pl
}

// unique reports step ids used twice in one tree of steps (the workflow's,
// or one compensation's), nested steps included, and notes where each is.
func (c *compilation) unique(steps []Step, ptr string, seen map[string]string) {
	for i := range steps {
		c.uniqueStep(&steps[i], ptr+"/"+strconv.Itoa(i), seen)
	}
}

func (c *compilation) uniqueStep(s *Step, p string, seen map[string]string) {
	if s.ID != "" {
		if first, dup := seen[s.ID]; dup {
			c.report(CodeDuplicateStep, p+"/id", "step id %q is already used by %s", s.ID, first)
		} else {
			seen[s.ID] = p
		}
		if _, ok := c.where[s.ID]; !ok {
			c.where[s.ID] = p
		}
	}
	c.unique(s.Steps, p+"/steps", seen)
	c.unique(s.Parallel, p+"/parallel", seen)
	c.unique(s.Else, p+"/else", seen)
	for j := range s.Branches {
		c.unique(s.Branches[j].Steps, fmt.Sprintf("%s/branches/%d/steps", p, j), seen)
	}
}

// group compiles sibling steps: each step, then what each waits for (the
// steps of its depends_on and the siblings its expressions read), which
// must form no cycle. owner is the step the group belongs to (nil at the
// top), loop the loop whose steps these are (nil: the enclosing one's).
func (c *compilation) group(steps []Step, list *Node, ptr string, parent *scope, owner *PlanStep, loop *loopScope) []*PlanStep {
	sc := newScope(parent, owner, loop)
	nodes := make([]*PlanStep, len(steps))
	for i := range steps {
		nodes[i] = &PlanStep{Step: &steps[i], Pointer: ptr + "/" + strconv.Itoa(i), OnError: "fail"}
		if id := steps[i].ID; id != "" && sc.ids[id] == nil {
			sc.ids[id] = nodes[i]
		}
	}
	for i, n := range nodes {
		c.dependsOn(n, list.item(i), sc)
	}
	for i, n := range nodes {
		c.step(n, list.item(i), sc)
	}
	if cycle, o := sc.findCycle(nodes); cycle != nil {
		c.reportAt(CodeDependencyCycle, o.ptr, o.pos, "the steps depend on each other in a cycle: %s", strings.Join(cycle, " → "))
	}
	return nodes
}

// dependsOn records the siblings a step's depends_on names.
func (c *compilation) dependsOn(n *PlanStep, node *Node, sc *scope) {
	list := node.Get("depends_on")
	at := origin{ptr: n.Pointer + "/depends_on", pos: list.pos()}
	for j, d := range n.Step.DependsOn {
		p := fmt.Sprintf("%s/depends_on/%d", n.Pointer, j)
		switch {
		case sc.ids[d] != nil:
			sc.depend(n, d, at)
		case c.where[d] != "":
			c.report(CodeUnknownDependency, p,
				"depends_on names %q, which is not in the same list of steps (it is %s): depends_on orders sibling steps; make the step that holds this one depend on it",
				d, c.where[d])
		default:
			c.report(CodeUnknownDependency, p, "depends_on names %q, which is not a step of this workflow", d)
		}
	}
}

// step compiles one step in the scope of its group.
func (c *compilation) step(n *PlanStep, node *Node, sc *scope) {
	s, ptr := n.Step, n.Pointer
	n.Kind = s.Kind
	if n.Kind == "" {
		switch {
		case len(s.Parallel) > 0:
			n.Kind = KindParallel
		case len(s.Branches) > 0 || len(s.Else) > 0:
			n.Kind = KindConditional
		case s.Loop != nil:
			n.Kind = KindLoop
		default:
			n.Kind = KindAgent
		}
	}
	if s.ID == "" && !c.typeBad[ptr+"/id"] {
		c.required(CodeInvalidStep, ptr+"/id", "is required")
	}
	if s.ContinueOnError {
		n.OnError = "continue"
	}
	if on := node.Get("on_error"); on.kind() != Null {
		c.onError(n, on, ptr+"/on_error", sc)
	}
	n.Condition, _, _ = c.condition(node.Get("condition"), ptr+"/condition", n, sc)
	if !c.typeBad[ptr+"/input"] {
		c.templates(node.Get("input"), ptr+"/input", n, sc)
	}
	switch n.Kind {
	case KindAgent, KindTask:
		switch {
		case c.typeBad[ptr+"/ref"] || c.typeBad[ptr+"/capability"] || c.typeBad[ptr+"/query"]:
		case s.Query != "" && strings.TrimSpace(s.Query) == "":
			c.report(CodeInvalidStep, ptr+"/query", "must say in words what the step needs")
		case s.Ref == "" && s.Capability == "" && s.Query == "":
			c.report(CodeInvalidStep, ptr, "%s step needs a ref (an agent name or manifest path), a capability or a query", withArticle(n.Kind))
		case s.Ref != "" && s.Query != "":
			c.report(CodeInvalidStep, ptr+"/query", "a step names its agent by ref, or says what it needs by query, not both")
		case len(s.Query) > platform.MaxDiscoveryText:
			c.report(CodeInvalidStep, ptr+"/query", "must be at most %d bytes, not %d", platform.MaxDiscoveryText, len(s.Query))
		}
	case KindParallel:
		if len(s.Parallel) == 0 && !c.typeBad[ptr+"/parallel"] {
			if holds(node.Get("steps")) {
				c.report(CodeInvalidStep, ptr+"/steps", "a Parallel step lists the steps it runs at once under parallel, not steps")
			} else {
				c.report(CodeInvalidStep, ptr+"/parallel", "must list the steps to run at once")
			}
		}
		n.Children = [][]*PlanStep{c.group(s.Parallel, node.Get("parallel"), ptr+"/parallel", sc, n, nil)}
	case KindConditional:
		if len(s.Branches) == 0 && len(s.Else) == 0 && !c.typeBad[ptr+"/branches"] && !c.typeBad[ptr+"/else"] {
			c.report(CodeInvalidStep, ptr+"/branches", "must have at least one branch")
		}
		branches := node.Get("branches")
		for i := range s.Branches {
			b, bp := branches.item(i), fmt.Sprintf("%s/branches/%d", ptr, i)
			cond := b.Get("condition")
			if strings.TrimSpace(s.Branches[i].Condition) == "" && !c.typeBad[bp+"/condition"] {
				c.required(CodeInvalidStep, bp+"/condition", "is required")
			}
			e, _, _ := c.condition(cond, bp+"/condition", n, sc)
			n.Branches = append(n.Branches, e)
			n.Children = append(n.Children, c.group(s.Branches[i].Steps, b.Get("steps"), bp+"/steps", sc, n, nil))
		}
		n.Children = append(n.Children, c.group(s.Else, node.Get("else"), ptr+"/else", sc, n, nil))
	case KindLoop:
		over := node.Get("loop").Get("over")
		switch {
		case c.typeBad[ptr+"/loop"] || c.typeBad[ptr+"/loop/over"]:
		case s.Loop == nil || strings.TrimSpace(s.Loop.Over) == "":
			c.required(CodeInvalidStep, ptr+"/loop/over", "is required: an expression giving the list to loop over")
		default:
			var v any
			var known bool
			n.Over, v, known = c.condition(over, ptr+"/loop/over", n, sc)
			c.loopList(v, known, over, ptr+"/loop/over")
		}
		switch {
		case holds(node.Get("loop").Get("steps")):
			c.report(CodeInvalidStep, ptr+"/loop/steps",
				"a Loop's steps go beside loop, not inside it: move them to %s/steps", ptr)
		case len(s.Steps) == 0 && !c.typeBad[ptr+"/steps"]:
			c.report(CodeInvalidStep, ptr+"/steps", "must list the steps to run for each item")
		}
		as := ""
		if s.Loop != nil {
			as = s.Loop.As
		}
		n.Children = [][]*PlanStep{c.group(s.Steps, node.Get("steps"), ptr+"/steps", sc, n, &loopScope{as: as})}
	default:
		if !c.typeBad[ptr+"/kind"] {
			c.reportSchema(CodeInvalidStep, ptr+"/kind", "must be one of 'Agent', 'Task', 'Parallel', 'Conditional', 'Loop'")
		}
		return
	}
	c.unused(n, node)
}

// uses lists the members holding nested steps that each kind runs.
var uses = map[string][]string{
	KindAgent:       nil,
	KindTask:        nil,
	KindParallel:    {"parallel"},
	KindConditional: {"branches", "else"},
	KindLoop:        {"loop", "steps"},
}

// unused reports nested steps a step's kind would never run: they are
// written in the wrong place.
func (c *compilation) unused(n *PlanStep, node *Node) {
	for _, m := range []string{"steps", "parallel", "branches", "else", "loop"} {
		if !holds(node.Get(m)) || slices.Contains(uses[n.Kind], m) || c.typeBad[n.Pointer+"/"+m] {
			continue
		}
		if m == "steps" && n.Kind == KindParallel && len(n.Step.Parallel) == 0 {
			continue // reported as misplaced
		}
		how := "kind " + n.Kind
		if n.Step.Kind == "" {
			how = "no kind, so it is " + withArticle(n.Kind) + " step"
		}
		c.report(CodeInvalidStep, n.Pointer+"/"+m, "is never run: the step has %s, which runs %s", how, runs(n.Kind))
	}
}

// withArticle is "an Agent", "a Task", ...
func withArticle(kind string) string {
	if kind == KindAgent {
		return "an " + kind
	}
	return "a " + kind
}

func runs(kind string) string {
	switch kind {
	case KindParallel:
		return "the steps of parallel"
	case KindConditional:
		return "the steps of a branch or of else"
	case KindLoop:
		return "the steps beside loop"
	}
	return "no nested steps"
}

// onError compiles on_error: a plain string (the action itself, as
// ossa/v0.5 allows; the releases before it want the object, which their
// schemas enforce) or an object with an action.
func (c *compilation) onError(n *PlanStep, on *Node, ptr string, sc *scope) {
	action, actionPtr := on.Text, ptr
	switch on.Kind {
	case String:
	case Object:
		actionPtr = ptr + "/action"
		switch a := on.Get("action"); a.kind() {
		case String:
			action = a.Text
		case Null:
			action = ""
		default:
			c.typeProblem(CodeInvalidStep, actionPtr, "must be a string, not %s", article(a.Kind))
			return
		}
	default:
		c.typeProblem(CodeInvalidStep, ptr, "must be 'fail', 'continue' or an object with an action")
		return
	}
	switch action {
	case "", "fail":
	case "continue":
		n.OnError = "continue"
	case "compensate":
		comp := on.Get("compensation")
		switch {
		case on.Kind == String:
			c.report(CodeInvalidStep, ptr, "'compensate' needs its compensation step: write {action: compensate, compensation: <step>}")
		case comp.kind() == Null:
			c.required(CodeInvalidStep, ptr+"/compensation", "is required for the 'compensate' action")
		case comp.Kind != Object:
			c.typeProblem(CodeInvalidStep, ptr+"/compensation", "must be a step (an object), not %s", article(comp.Kind))
		default:
			var s Step
			c.decode(comp, &s, ptr+"/compensation", CodeInvalidStep)
			n.OnError = "compensate"
			n.Compensation = &PlanStep{Step: &s, Pointer: ptr + "/compensation", OnError: "fail"}
			// A compensation and its nested steps are a tree of their own:
			// their ids are not the workflow's steps'.
			c.uniqueStep(&s, ptr+"/compensation", map[string]string{})
			// It runs in the compensated step's place and reads what that
			// step reads, but not the compensated step itself.
			c.step(n.Compensation, comp, newScope(sc, n, nil))
		}
	default:
		c.reportSchema(CodeUnsupportedAction, actionPtr, "%q is not supported by this gateway; use 'fail', 'continue' or 'compensate'", action)
	}
}

// holds reports whether a member holds something: not null, not an
// empty list or object.
func holds(n *Node) bool {
	switch n.kind() {
	case Null:
		return false
	case Array:
		return len(n.Items) > 0
	case Object:
		return len(n.Fields) > 0
	}
	return true
}

// item returns an Array's i-th element, or nil.
func (n *Node) item(i int) *Node {
	if n == nil || n.Kind != Array || i >= len(n.Items) {
		return nil
	}
	return n.Items[i]
}

func (n *Node) pos() Pos {
	if n == nil {
		return Pos{}
	}
	return n.Pos
}
