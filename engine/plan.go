package engine

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/expr"
	"github.com/ossa-platform/platform/manifest"
)

// Step kinds. A step without a kind is inferred from what it holds.
const (
	kindAgent       = "Agent"
	kindTask        = "Task"
	kindParallel    = "Parallel"
	kindConditional = "Conditional"
	kindLoop        = "Loop"
)

// plan is a workflow ready to execute: its steps grouped with their
// dependencies, checked once.
type plan struct {
	name          string
	steps         []*stepNode
	vars          map[string]any
	timeout       time.Duration
	haltOnFailure bool
	inputs        *manifest.InputSchema
}

// stepNode is one step with the siblings it waits for.
type stepNode struct {
	step *manifest.Step
	kind string
	// ptr is the step's JSON pointer in the workflow, for problems.
	ptr  string
	deps []string
	// children are the nested groups: Parallel's steps, Loop's steps,
	// Conditional's branches (one group per branch) and else (last).
	children [][]*stepNode
	// onError is fail, continue or compensate.
	onError      string
	compensation *stepNode
}

// compile checks a workflow definition and builds its plan. Problems name
// the JSON pointer of what is wrong under prefix.
func compile(def json.RawMessage, prefix string) (*plan, error) {
	var wf manifest.Workflow
	if err := json.Unmarshal(def, &wf); err != nil {
		return nil, &platform.Error{Code: platform.EINVALID, Message: "the workflow is not valid",
			Fields: []platform.FieldError{{Field: prefix, Message: "must be an OSSA Workflow: " + err.Error()}}}
	}
	var p platform.Problems
	if wf.Kind != "" && wf.Kind != "Workflow" {
		p.Add(prefix+"/kind", "must be 'Workflow', not %q", wf.Kind)
	}
	pl := &plan{name: wf.Metadata.Name, timeout: seconds(wf.Spec.TimeoutSeconds), haltOnFailure: true}
	if wf.Spec.Context != nil {
		pl.vars = wf.Spec.Context.Variables
	}
	if eh := wf.Spec.ErrorHandling; eh != nil {
		switch eh.OnFailure {
		case "", "halt":
		case "continue":
			pl.haltOnFailure = false
		default:
			p.Add(prefix+"/spec/error_handling/on_failure", "%q is not supported by this gateway; use 'halt' or 'continue'", eh.OnFailure)
		}
	}
	inputs, err := manifest.CompileInputs(wf.Spec.Inputs)
	if err != nil {
		p.Add(prefix+"/spec/inputs", "%s", err)
	}
	pl.inputs = inputs
	if len(wf.Spec.Steps) == 0 {
		p.Add(prefix+"/spec/steps", "must have at least one step")
	}
	pl.steps = group(wf.Spec.Steps, prefix+"/spec/steps", &p)
	if err := p.Err("the workflow cannot run"); err != nil {
		return nil, err
	}
	return pl, nil
}

// group builds the nodes of sibling steps and their dependencies: the
// steps named by depends_on, and the siblings their expressions read.
func group(steps []manifest.Step, ptr string, p *platform.Problems) []*stepNode {
	nodes := make([]*stepNode, len(steps))
	ids := map[string]bool{}
	for i := range steps {
		nodes[i] = compileStep(&steps[i], ptr+"/"+strconv.Itoa(i), p)
		if id := steps[i].ID; id != "" {
			if ids[id] {
				p.Add(nodes[i].ptr+"/id", "duplicates step id %q", id)
			}
			ids[id] = true
		}
	}
	for i, n := range nodes {
		for j, d := range n.step.DependsOn {
			if !ids[d] || d == n.step.ID {
				p.Add(fmt.Sprintf("%s/depends_on/%d", n.ptr, j), "names no other step %q at this level", d)
				continue
			}
			n.deps = appendNew(n.deps, d)
		}
		for _, r := range stepRefs(&steps[i]) {
			if ids[r] && r != n.step.ID {
				n.deps = appendNew(n.deps, r)
			}
		}
	}
	if cycle := findCycle(nodes); cycle != nil {
		p.Add(ptr, "steps depend on each other in a cycle: %s", strings.Join(cycle, " → "))
	}
	return nodes
}

func compileStep(s *manifest.Step, ptr string, p *platform.Problems) *stepNode {
	n := &stepNode{step: s, ptr: ptr, kind: s.Kind, onError: "fail"}
	if n.kind == "" {
		switch {
		case len(s.Parallel) > 0:
			n.kind = kindParallel
		case len(s.Branches) > 0 || len(s.Else) > 0:
			n.kind = kindConditional
		case s.Loop != nil:
			n.kind = kindLoop
		default:
			n.kind = kindAgent
		}
	}
	if s.ID == "" {
		p.Add(ptr+"/id", "is required")
	}
	if s.ContinueOnError {
		n.onError = "continue"
	}
	if len(s.OnError) > 0 && string(s.OnError) != "null" {
		compileOnError(n, ptr+"/on_error", p)
	}
	for field, src := range map[string]string{"/condition": s.Condition} {
		if src != "" {
			if _, err := expr.ParseCondition(src); err != nil {
				p.Add(ptr+field, "%s", err)
			}
		}
	}
	if _, err := expr.Templates(s.Input); err != nil {
		p.Add(ptr+"/input", "%s", err)
	}
	switch n.kind {
	case kindAgent, kindTask:
		if s.Ref == "" && s.Capability == "" {
			p.Add(ptr, "an %s step needs a ref (an agent name or manifest path) or a capability", n.kind)
		}
	case kindParallel:
		if len(s.Parallel) == 0 {
			p.Add(ptr+"/parallel", "must list the steps to run at once")
		}
		n.children = [][]*stepNode{group(s.Parallel, ptr+"/parallel", p)}
	case kindConditional:
		if len(s.Branches) == 0 && len(s.Else) == 0 {
			p.Add(ptr+"/branches", "must have at least one branch")
		}
		for i, b := range s.Branches {
			bp := fmt.Sprintf("%s/branches/%d", ptr, i)
			if _, err := expr.ParseCondition(b.Condition); err != nil || strings.TrimSpace(b.Condition) == "" {
				if err == nil {
					err = fmt.Errorf("is required")
				}
				p.Add(bp+"/condition", "%s", err)
			}
			n.children = append(n.children, group(b.Steps, bp+"/steps", p))
		}
		n.children = append(n.children, group(s.Else, ptr+"/else", p))
	case kindLoop:
		switch {
		case s.Loop == nil || strings.TrimSpace(s.Loop.Over) == "":
			p.Add(ptr+"/loop/over", "is required: an expression giving the list to loop over")
		default:
			if _, err := expr.ParseCondition(s.Loop.Over); err != nil {
				p.Add(ptr+"/loop/over", "%s", err)
			}
		}
		if len(s.Steps) == 0 {
			p.Add(ptr+"/steps", "must list the steps to run for each item")
		}
		n.children = [][]*stepNode{group(s.Steps, ptr+"/steps", p)}
	default:
		p.Add(ptr+"/kind", "must be one of 'Agent', 'Task', 'Parallel', 'Conditional', 'Loop'")
	}
	return n
}

// compileOnError reads on_error: a plain string (the action itself, as
// ossa/v0.5 allows; the releases before it want the object, which
// validation enforces) or an object with an action.
func compileOnError(n *stepNode, ptr string, p *platform.Problems) {
	var action string
	var obj struct {
		Action       string         `json:"action"`
		Compensation *manifest.Step `json:"compensation"`
	}
	plain := json.Unmarshal(n.step.OnError, &action) == nil
	if !plain {
		if err := json.Unmarshal(n.step.OnError, &obj); err != nil {
			p.Add(ptr, "must be 'fail', 'continue' or an object with an action")
			return
		}
		action = obj.Action
	}
	actionPtr := ptr + "/action"
	if plain {
		actionPtr = ptr
	}
	switch action {
	case "", "fail":
	case "continue":
		n.onError = "continue"
	case "compensate":
		if plain {
			p.Add(ptr, "'compensate' needs its compensation step: write {action: compensate, compensation: <step>}")
			return
		}
		if obj.Compensation == nil {
			p.Add(ptr+"/compensation", "is required for the 'compensate' action")
			return
		}
		n.onError = "compensate"
		n.compensation = compileStep(obj.Compensation, ptr+"/compensation", p)
	default:
		p.Add(actionPtr, "%q is not supported by this gateway; use 'fail', 'continue' or 'compensate'", action)
	}
}

// stepRefs lists the step IDs the expressions of s and its nested steps
// read (steps.<id>...).
func stepRefs(s *manifest.Step) []string {
	var out []string
	add := func(exprs []*expr.Expr) {
		for _, e := range exprs {
			for _, r := range e.Refs() {
				if r.Root == "steps" && len(r.Path) > 0 {
					out = appendNew(out, r.Path[0])
				}
			}
		}
	}
	ts, _ := expr.Templates(s.Input)
	add(ts)
	for _, src := range []string{s.Condition, loopOver(s)} {
		if e, err := expr.ParseCondition(src); err == nil && e != nil {
			add([]*expr.Expr{e})
		}
	}
	for _, b := range s.Branches {
		if e, err := expr.ParseCondition(b.Condition); err == nil && e != nil {
			add([]*expr.Expr{e})
		}
	}
	for _, list := range [][]manifest.Step{s.Parallel, s.Steps, s.Else} {
		for i := range list {
			for _, r := range stepRefs(&list[i]) {
				out = appendNew(out, r)
			}
		}
	}
	for _, b := range s.Branches {
		for i := range b.Steps {
			for _, r := range stepRefs(&b.Steps[i]) {
				out = appendNew(out, r)
			}
		}
	}
	return out
}

func loopOver(s *manifest.Step) string {
	if s.Loop == nil {
		return ""
	}
	return s.Loop.Over
}

// findCycle returns the IDs of one dependency cycle, or nil.
func findCycle(nodes []*stepNode) []string {
	byID := map[string]*stepNode{}
	for _, n := range nodes {
		byID[n.step.ID] = n
	}
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
		if n := byID[id]; n != nil {
			for _, d := range n.deps {
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
		if c := visit(n.step.ID); c != nil {
			return c
		}
	}
	return nil
}

// agentName is the agent a ref names: the name itself, or for a manifest
// path the file's base name without its extensions, since manifests are
// named after their agent (agents/code-reviewer.ossa.yaml → code-reviewer).
func agentName(ref string) string {
	if !strings.ContainsAny(ref, "/\\") && !hasManifestExt(ref) {
		return ref
	}
	base := path.Base(strings.ReplaceAll(ref, "\\", "/"))
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.TrimSuffix(base, ".ossa")
}

func hasManifestExt(ref string) bool {
	return strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") || strings.HasSuffix(ref, ".json")
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
