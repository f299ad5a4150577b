package manifest

import (
	"errors"
	"slices"
	"strconv"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/expr"
)

// What an expression may read, and where. The engine evaluates a step's
// expressions against the workflow (input, name, run_id), the context
// variables, the steps that have finished in its own group and in the
// groups that hold it, and the item of the innermost loop it runs in; the
// compilation holds every reference to those, so that a workflow never reads
// what cannot be there.

// loopScope is the loop the steps of a group run in: its item and index,
// and the item again under the loop's as name.
type loopScope struct{ as string }

// scope is what the steps of one group can read.
type scope struct {
	parent *scope
	// owner is the step of the parent's group this group belongs to (a
	// container, or a compensated step); nil at the top.
	owner *PlanStep
	// loop is the innermost loop, nil outside loops.
	loop *loopScope
	ids  map[string]*PlanStep
	// origins are where each dependency (from, to) was first written.
	origins map[[2]string]origin
}

// origin is where something was written: a JSON pointer and a position.
type origin struct {
	ptr string
	pos Pos
}

func newScope(parent *scope, owner *PlanStep, loop *loopScope) *scope {
	sc := &scope{parent: parent, owner: owner, loop: loop, ids: map[string]*PlanStep{}, origins: map[[2]string]origin{}}
	if loop == nil && parent != nil {
		sc.loop = parent.loop
	}
	return sc
}

// depend makes n, a step of this group, wait for its sibling id.
func (sc *scope) depend(n *PlanStep, id string, at origin) {
	if !slices.Contains(n.Deps, id) {
		n.Deps = append(n.Deps, id)
	}
	if key := [2]string{n.Step.ID, id}; sc.origins[key] == (origin{}) {
		sc.origins[key] = at
	}
}

// findCycle returns the ids of one dependency cycle among the group's
// steps, in document order of discovery, and where its first edge was
// written; nil when there is none.
func (sc *scope) findCycle(nodes []*PlanStep) ([]string, origin) {
	state := map[string]int{} // 1 visiting, 2 done
	var stack []string
	var visit func(id string) []string
	visit = func(id string) []string {
		switch state[id] {
		case 1:
			i := slices.Index(stack, id)
			return append(slices.Clone(stack[i:]), id)
		case 2:
			return nil
		}
		state[id] = 1
		stack = append(stack, id)
		if n := sc.ids[id]; n != nil {
			for _, d := range n.Deps {
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = 2
		return nil
	}
	for _, n := range nodes {
		if c := visit(n.Step.ID); c != nil {
			return c, sc.origins[[2]string{c[0], c[1]}]
		}
	}
	return nil, origin{}
}

// condition parses a condition, a branch's condition or a loop's over (one
// expression, with or without its ${{ }}), and checks what it reads. It
// also returns the expression's value when it is known before the run.
func (c *compilation) condition(node *Node, ptr string, n *PlanStep, sc *scope) (*expr.Expr, any, bool) {
	if node.kind() != String {
		return nil, nil, false // absent, or of a type already reported
	}
	e, err := expr.ParseCondition(node.Text)
	if err != nil {
		c.exprError(node, ptr, err, "")
		return nil, nil, false
	}
	if e == nil {
		return nil, nil, false
	}
	v, known := c.check(e, node, ptr, n, sc)
	return e, v, known
}

// templates parses and checks every ${{ }} template in the strings under
// node (a step's input).
func (c *compilation) templates(node *Node, ptr string, n *PlanStep, sc *scope) {
	switch node.kind() {
	case String:
		es, err := expr.ParseTemplates(node.Text)
		if err != nil {
			c.exprError(node, ptr, err, "")
			return
		}
		for _, e := range es {
			c.check(e, node, ptr, n, sc)
		}
	case Array:
		for i, it := range node.Items {
			c.templates(it, ptr+"/"+strconv.Itoa(i), n, sc)
		}
	case Object:
		for _, f := range node.Fields {
			c.templates(f.Value, ptr+"/"+platform.EscapePointer(f.Key), n, sc)
		}
	}
}

// exprError reports an expression's error, located inside its string.
func (c *compilation) exprError(node *Node, ptr string, err error, prefix string) {
	pos := node.pos()
	var xe *expr.Error
	if errors.As(err, &xe) {
		pos = node.PosAt(xe.Pos)
	}
	c.reportAt(CodeInvalidExpression, ptr, pos, "%s%s", prefix, err)
}

// check checks every reference of e, found in the string node at ptr of
// step n, and evaluates e when all it reads is known before the run (the
// context variables), reporting an evaluation that would fail every run.
func (c *compilation) check(e *expr.Expr, node *Node, ptr string, n *PlanStep, sc *scope) (any, bool) {
	ok, constant := true, true
	for _, r := range e.Refs() {
		if r.Root != "context" {
			constant = false
		}
		if !c.ref(r, node, ptr, n, sc) {
			ok = false
		}
	}
	if !ok || !constant || c.budget <= 0 {
		return nil, false
	}
	v, err := e.EvalBudget(c.consts, &c.budget)
	switch {
	case errors.Is(err, expr.ErrCost):
		return nil, false // too dear to tell now; the run will
	case err != nil:
		c.exprError(node, ptr, err, "fails in every run: ")
		return nil, false
	}
	return v, true
}

// ref checks one reference; false when it reported a problem.
func (c *compilation) ref(r expr.Ref, node *Node, ptr string, n *PlanStep, sc *scope) bool {
	at := origin{ptr: ptr, pos: node.PosAt(r.Pos)}
	bad := func(code, format string, args ...any) bool {
		c.reportAt(code, ptr, at.pos, format, args...)
		return false
	}
	seg := func(i int) (string, bool) {
		if i < len(r.Path) {
			return r.Path[i], true
		}
		return "", false
	}
	switch r.Root {
	case "workflow":
		switch m, ok := seg(0); {
		case !ok || m == "name" || m == "run_id":
		case m == "input":
			if name, ok := seg(1); ok && c.inputs != nil && !c.inputs[name] {
				return bad(CodeUnknownInput, "${{ workflow.input.%s }} names no input of spec.inputs", name)
			}
		default:
			return bad(CodeUnknownReference, "workflow.%s is never set: workflow has input, name and run_id", m)
		}
	case "steps":
		id, ok := seg(0)
		if !ok {
			return true
		}
		if msg := c.resolve(sc, n, id, at); msg != "" {
			return bad(CodeUnknownStep, "%s", msg)
		}
		if m, ok := seg(1); ok && m != "output" && m != "status" {
			return bad(CodeUnknownReference, "steps.%s.%s is never set: a step has output and status", id, m)
		}
	case "context":
		if m, ok := seg(0); ok && m != "variables" {
			return bad(CodeUnknownReference, "context.%s is never set: context has variables", m)
		}
		if name, ok := seg(1); ok {
			if _, ok := c.vars[name]; !ok {
				return bad(CodeUnknownVariable, "${{ context.variables.%s }} names no variable of spec.context.variables", name)
			}
		}
	case "loop":
		if sc.loop == nil {
			return bad(CodeUnknownReference, "loop is only set in the steps of a Loop")
		}
		if m, ok := seg(0); ok && m != "item" && m != "index" && m != sc.loop.as {
			if sc.loop.as == "" {
				return bad(CodeUnknownReference, "loop.%s is never set: the loop has item and index (and its loop.as names none)", m)
			}
			return bad(CodeUnknownReference, "loop.%s is never set: the loop has item, index and %s (its loop.as)", m, sc.loop.as)
		}
	default:
		return bad(CodeUnknownReference, "%s is not something an expression can read: it reads workflow, steps, context and loop%s",
			r.Root, c.rootHint(r.Root, sc))
	}
	return true
}

// rootHint suggests what a name read as a root may have meant.
func (c *compilation) rootHint(name string, sc *scope) string {
	switch {
	case name == "input" || name == "inputs":
		return " (the run's parameters are workflow.input)"
	case name == "variables":
		return " (the context variables are context.variables)"
	case sc.loop != nil && name == sc.loop.as:
		return " (the loop's item is loop." + name + ")"
	case c.where[name] != "":
		return " (a step's output is steps." + name + ".output)"
	}
	return ""
}

// resolve finds the step id that step n of scope sc reads: a sibling,
// which n then waits for, or a sibling of a step that holds n, which that
// step then waits for. It returns why the step cannot be read, or "".
func (c *compilation) resolve(sc *scope, n *PlanStep, id string, at origin) string {
	if id == n.Step.ID {
		return "${{ steps." + id + "... }} is this step's own: a step has no output or status until it ends"
	}
	if sc.ids[id] != nil {
		sc.depend(n, id, at)
		return ""
	}
	for cur := sc; cur.parent != nil; cur = cur.parent {
		if cur.owner.Step.ID == id {
			return "${{ steps." + id + "... }} is the step this one is part of: it has no output or status until this one ends"
		}
		if cur.parent.ids[id] != nil {
			cur.parent.depend(cur.owner, id, at)
			return ""
		}
	}
	if p, ok := c.where[id]; ok {
		return "${{ steps." + id + "... }} cannot be read here: step " + id + " (" + p +
			") is nested in another step, whose output holds its output"
	}
	return "${{ steps." + id + "... }} names no step of this workflow"
}

// loopList reports a loop.over known before the run that gives no list.
func (c *compilation) loopList(v any, known bool, node *Node, ptr string) {
	if !known || v == nil {
		return
	}
	if _, ok := v.([]any); !ok {
		c.reportAt(CodeInvalidExpression, ptr, node.pos(), "must give a list, and gives %s in every run", typeName(v))
	}
}

// declaredInputs returns the members a workflow's inputs schema declares,
// or nil when an expression may read others: no properties are declared,
// the schema combines others ($ref, allOf, if, ...), or it says that more
// are allowed (additionalProperties or unevaluatedProperties other than
// false, patternProperties). A schema that declares properties and says
// nothing more is read as closed: reading an undeclared member is taken
// for a typo, and additionalProperties: true says otherwise.
func declaredInputs(schema *Node) map[string]bool {
	props := schema.Get("properties")
	if props.kind() != Object {
		return nil
	}
	for _, k := range []string{"$ref", "$dynamicRef", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
		"dependentSchemas", "dependencies", "patternProperties"} {
		if schema.Get(k) != nil {
			return nil
		}
	}
	for _, k := range []string{"additionalProperties", "unevaluatedProperties"} {
		if v := schema.Get(k); v != nil && (v.Kind != Bool || v.Text != "false") {
			return nil
		}
	}
	out := map[string]bool{}
	for _, f := range props.Fields {
		out[f.Key] = true
	}
	for _, r := range schema.Get("required").items() {
		out[r.Str()] = true
	}
	return out
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "a value"
}
