package engine

import (
	"maps"
	"sync"
)

// scope is what a step's expressions can read: the workflow's input and
// variables, the steps before it (its own group's and its ancestors'),
// and the current loop item.
type scope struct {
	base   map[string]any
	parent *scope
	loop   map[string]any

	mu    sync.Mutex
	steps map[string]any
}

func (r *runner) rootScope() *scope {
	vars := r.plan.vars
	if vars == nil {
		vars = map[string]any{}
	}
	return &scope{base: map[string]any{
		"workflow": map[string]any{"input": r.params, "name": r.run.Workflow, "run_id": r.run.ID},
		"context":  map[string]any{"variables": vars},
	}, steps: map[string]any{}}
}

func (s *scope) child() *scope {
	return &scope{base: s.base, parent: s, loop: s.loop, steps: map[string]any{}}
}

func (s *scope) withLoop(loop map[string]any) *scope {
	c := s.child()
	c.loop = loop
	return c
}

func (s *scope) set(id string, res result) {
	v := map[string]any{"output": res.output, "status": string(res.status)}
	s.mu.Lock()
	s.steps[id] = v
	s.mu.Unlock()
}

// values returns the variables for evaluating expressions now.
func (s *scope) values() map[string]any {
	steps := map[string]any{}
	var chain []*scope
	for c := s; c != nil; c = c.parent {
		chain = append(chain, c)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		chain[i].mu.Lock()
		maps.Copy(steps, chain[i].steps)
		chain[i].mu.Unlock()
	}
	out := maps.Clone(s.base)
	out["steps"] = steps
	if s.loop != nil {
		out["loop"] = s.loop
	}
	return out
}
