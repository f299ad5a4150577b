package manifest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Codes of the checks beyond the schema.
const (
	CodeDuplicateTool     = "duplicate-tool-name"
	CodeDuplicateStep     = "duplicate-step-id"
	CodeUnknownDependency = "unknown-dependency"
	CodeDependencyCycle   = "dependency-cycle"
	CodeUnknownInput      = "unknown-input"
	CodeUnknownStep       = "unknown-step"
	CodeUnknownVariable   = "unknown-variable"
	CodeNoLLMNoEndpoint   = "no-llm-no-endpoint"
)

// check runs the checks the schema cannot express.
func check(doc *Document) []Diagnostic {
	c := &checker{root: doc.Root}
	switch doc.Kind() {
	case "Agent":
		c.agent()
	case "Workflow":
		c.workflow()
	}
	return c.out
}

type checker struct {
	root *Node
	out  []Diagnostic
}

func (c *checker) report(sev Severity, code, ptr, format string, args ...any) {
	c.out = append(c.out, Diagnostic{Severity: sev, Code: code, Pointer: ptr, Pos: c.root.At(ptr).Pos,
		Message: fmt.Sprintf(format, args...)})
}

func (c *checker) agent() {
	spec := c.root.Get("spec")
	seen := map[string]int{}
	for i, tool := range spec.Get("tools").items() {
		name := tool.Get("name").Str()
		if name == "" {
			continue
		}
		if first, dup := seen[name]; dup {
			c.report(SeverityError, CodeDuplicateTool, fmt.Sprintf("/spec/tools/%d/name", i),
				"tool name %q is already used by /spec/tools/%d", name, first)
			continue
		}
		seen[name] = i
	}
	if endpoint, _ := agentEndpoint(c.root); spec.Get("llm") == nil && endpoint == "" {
		c.report(SeverityWarning, CodeNoLLMNoEndpoint, "/spec",
			"the agent has neither spec.llm nor an endpoint: it can be registered but nothing can run it")
	}
}

// stepRef is a step and the pointer where it stands.
type stepRef struct {
	node *Node
	ptr  string
}

func (c *checker) workflow() {
	spec := c.root.Get("spec")
	steps := collectSteps(spec.Get("steps"), "/spec/steps")
	ids := map[string]string{}
	for _, s := range steps {
		id := s.node.Get("id").Str()
		if id == "" {
			continue
		}
		if first, dup := ids[id]; dup {
			c.report(SeverityError, CodeDuplicateStep, s.ptr+"/id", "step id %q is already used by %s", id, first)
			continue
		}
		ids[id] = s.ptr
	}
	// depends_on names existing steps and forms no cycle.
	deps := map[string][]string{}
	for _, s := range steps {
		id := s.node.Get("id").Str()
		for i, d := range s.node.Get("depends_on").items() {
			name := d.Str()
			if _, ok := ids[name]; !ok {
				c.report(SeverityError, CodeUnknownDependency, fmt.Sprintf("%s/depends_on/%d", s.ptr, i),
					"depends_on names %q, which is not a step of this workflow", name)
				continue
			}
			deps[id] = append(deps[id], name)
		}
	}
	if cycle := findCycle(deps); cycle != nil {
		c.report(SeverityError, CodeDependencyCycle, ids[cycle[0]]+"/depends_on",
			"the steps depend on each other in a cycle: %s", strings.Join(cycle, " → "))
	}
	// Expressions name existing inputs, steps and variables.
	inputs := propertyNames(spec.Get("inputs"))
	vars := map[string]bool{}
	for _, f := range spec.Get("context").Get("variables").fields() {
		vars[f.Key] = true
	}
	for _, s := range steps {
		walkStrings(s.node, s.ptr, func(text, ptr string) {
			for _, ref := range expressionRefs(text) {
				switch ref.scope {
				case "workflow.input":
					if inputs != nil && !inputs[ref.name] {
						c.report(SeverityError, CodeUnknownInput, ptr, "${{ workflow.input.%s }} names no input of spec.inputs", ref.name)
					}
				case "steps":
					if _, ok := ids[ref.name]; !ok {
						c.report(SeverityError, CodeUnknownStep, ptr, "${{ steps.%s... }} names no step of this workflow", ref.name)
					}
				case "context.variables":
					if !vars[ref.name] {
						c.report(SeverityError, CodeUnknownVariable, ptr, "${{ context.variables.%s }} names no variable of spec.context.variables", ref.name)
					}
				}
			}
		})
	}
}

// collectSteps lists a workflow's steps, nested ones (parallel children,
// branches, else) included.
func collectSteps(list *Node, ptr string) []stepRef {
	var out []stepRef
	for i, s := range list.items() {
		p := ptr + "/" + strconv.Itoa(i)
		out = append(out, stepRef{s, p})
		out = append(out, collectSteps(s.Get("steps"), p+"/steps")...)
		out = append(out, collectSteps(s.Get("parallel"), p+"/parallel")...)
		out = append(out, collectSteps(s.Get("else"), p+"/else")...)
		for j, b := range s.Get("branches").items() {
			out = append(out, collectSteps(b.Get("steps"), fmt.Sprintf("%s/branches/%d/steps", p, j))...)
		}
	}
	return out
}

// findCycle returns the step ids of one dependency cycle, or nil.
func findCycle(deps map[string][]string) []string {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(id string) bool
	visit = func(id string) bool {
		state[id] = visiting
		stack = append(stack, id)
		for _, d := range deps[id] {
			switch state[d] {
			case visiting:
				for i, s := range stack {
					if s == d {
						cycle = append(append([]string{}, stack[i:]...), d)
					}
				}
				return true
			case unvisited:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return false
	}
	ids := make([]string, 0, len(deps))
	for id := range deps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if state[id] == unvisited && visit(id) {
			return cycle
		}
	}
	return nil
}

// propertyNames returns the declared properties of a JSON Schema, or nil
// when it declares none (then any name may be right).
func propertyNames(schema *Node) map[string]bool {
	props := schema.Get("properties")
	if props == nil || props.Kind != Object {
		return nil
	}
	out := map[string]bool{}
	for _, f := range props.fields() {
		out[f.Key] = true
	}
	return out
}

// walkStrings calls fn with every string value under n and its pointer.
func walkStrings(n *Node, ptr string, fn func(text, ptr string)) {
	switch n.kind() {
	case String:
		fn(n.Text, ptr)
	case Array:
		for i, it := range n.Items {
			walkStrings(it, ptr+"/"+strconv.Itoa(i), fn)
		}
	case Object:
		for _, f := range n.Fields {
			if f.Key == "steps" || f.Key == "else" || f.Key == "branches" || f.Key == "parallel" {
				continue // nested steps are walked on their own
			}
			walkStrings(f.Value, ptr+"/"+escape(f.Key), fn)
		}
	}
}

// ExpressionRef is one reference inside a ${{ }} expression.
type ExpressionRef struct {
	scope string // "workflow.input", "steps" or "context.variables"
	name  string
}

var (
	exprRe = regexp.MustCompile(`\$\{\{(.*?)\}\}`)
	refRe  = regexp.MustCompile(`\b(workflow\.input|steps|context\.variables)\.([A-Za-z0-9_][A-Za-z0-9_-]*)`)
)

// expressionRefs lists the references of every expression in text.
func expressionRefs(text string) []ExpressionRef {
	var out []ExpressionRef
	for _, m := range exprRe.FindAllStringSubmatch(text, -1) {
		for _, r := range refRe.FindAllStringSubmatch(m[1], -1) {
			out = append(out, ExpressionRef{scope: r[1], name: r[2]})
		}
	}
	return out
}

func escape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

func (n *Node) kind() Kind {
	if n == nil {
		return Null
	}
	return n.Kind
}

func (n *Node) items() []*Node {
	if n == nil || n.Kind != Array {
		return nil
	}
	return n.Items
}

func (n *Node) fields() []Field {
	if n == nil || n.Kind != Object {
		return nil
	}
	return n.Fields
}
