package engine

import (
	"encoding/json"
	"path"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/expr"
	"github.com/ossa-platform/platform/manifest"
)

// Step kinds. A step without a kind is inferred from what it holds.
const (
	kindAgent       = manifest.KindAgent
	kindTask        = manifest.KindTask
	kindParallel    = manifest.KindParallel
	kindConditional = manifest.KindConditional
	kindLoop        = manifest.KindLoop
)

// plan is a workflow ready to execute: what the workflow compiler of
// package manifest made of its definition, the compiler that validation
// runs too, so that every workflow that validates runs.
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
	// cond is the step's condition (nil: always), over a Loop's list,
	// branches a Conditional's branch conditions.
	cond     *expr.Expr
	over     *expr.Expr
	branches []*expr.Expr
}

// compile checks a workflow definition and builds its plan. Problems name
// the JSON pointer of what is wrong under prefix.
func compile(def json.RawMessage, prefix string) (*plan, error) {
	cp, diags := manifest.CompileDefinition(def)
	var p platform.Problems
	for _, d := range diags {
		if d.Severity == manifest.SeverityError {
			p.Add(prefix+d.Pointer, "%s", d.Message)
		}
	}
	if err := p.Err("the workflow cannot run"); err != nil {
		return nil, err
	}
	wf := cp.Workflow
	pl := &plan{name: wf.Metadata.Name, steps: nodes(cp.Steps, prefix), timeout: seconds(wf.Spec.TimeoutSeconds),
		haltOnFailure: cp.HaltOnFailure, inputs: cp.Inputs}
	if wf.Spec.Context != nil {
		pl.vars = wf.Spec.Context.Variables
	}
	return pl, nil
}

// nodes is the engine's view of compiled steps, their pointers under
// prefix.
func nodes(steps []*manifest.PlanStep, prefix string) []*stepNode {
	out := make([]*stepNode, len(steps))
	for i, s := range steps {
		out[i] = node(s, prefix)
	}
	return out
}

func node(s *manifest.PlanStep, prefix string) *stepNode {
	n := &stepNode{step: s.Step, kind: s.Kind, ptr: prefix + s.Pointer, deps: s.Deps, onError: s.OnError,
		cond: s.Condition, over: s.Over, branches: s.Branches}
	for _, g := range s.Children {
		n.children = append(n.children, nodes(g, prefix))
	}
	if s.Compensation != nil {
		n.compensation = node(s.Compensation, prefix)
	}
	return n
}

// holds reports whether a condition (nil: none) holds in vars.
func holds(cond *expr.Expr, vars map[string]any) (bool, error) {
	if cond == nil {
		return true, nil
	}
	v, err := cond.Eval(vars)
	if err != nil {
		return false, err
	}
	return expr.Truthy(v), nil
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

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
