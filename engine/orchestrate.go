package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

// NewRun checks a workflow, the agents a run may use and its parameters,
// and returns the run to store. Problems name JSON pointers into the
// request: /workflow/..., /agents/N, /parameters/...
func (e *Engine) NewRun(ctx context.Context, namespace string, wf *platform.Workflow, agents []string, params json.RawMessage) (*platform.Run, error) {
	if len(bytes.TrimSpace(params)) == 0 || string(bytes.TrimSpace(params)) == "null" {
		params = json.RawMessage(`{}`)
	}
	pl, err := compile(wf.Definition, "/workflow")
	if err != nil {
		return nil, err
	}
	var p platform.Problems
	diags, err := pl.inputs.Check(params)
	if err != nil {
		p.Add("/parameters", "must be a JSON object: %v", err)
	}
	for _, d := range diags {
		p.Add("/parameters"+d.Pointer, "%s", d.Message)
	}
	if agents == nil {
		agents = []string{}
	}
	for i, name := range agents {
		if _, err := e.cfg.Agents.FindAgent(ctx, namespace, name); err != nil {
			if platform.ErrorCode(err) != platform.ENOTFOUND {
				return nil, err
			}
			p.Add("/agents/"+strconv.Itoa(i), "agent %q is not registered", name)
		}
	}
	if err := e.checkAgents(ctx, namespace, pl.steps, agents, &p); err != nil {
		return nil, err
	}
	if err := p.Err("the run cannot start"); err != nil {
		return nil, err
	}
	run := &platform.Run{
		Namespace:  namespace,
		Workflow:   cmp.Or(wf.Name, pl.name),
		WorkflowID: wf.ID,
		Status:     platform.RunQueued,
		Parameters: params,
		Agents:     agents,
		Steps:      []*platform.StepRun{},
		Definition: wf.Definition,
	}
	if wf.ID != "" {
		run.WorkflowRevision, run.WorkflowVersion = wf.Revision, wf.Version
	}
	return run, nil
}

// checkAgents reports every Agent or Task step no registered agent can run.
func (e *Engine) checkAgents(ctx context.Context, namespace string, nodes []*stepNode, allowed []string, p *platform.Problems) error {
	for _, n := range nodes {
		if n.kind == kindAgent || n.kind == kindTask {
			var err error
			if n.step.Query != "" {
				_, err = e.discover(ctx, namespace, n.step, allowed)
			} else {
				_, err = e.candidates(ctx, namespace, n.step.Ref, n.step.Capability, allowed)
			}
			switch code := platform.ErrorCode(err); code {
			case "":
			case platform.ENOTFOUND, platform.EINVALID:
				field := n.ptr + "/ref"
				switch {
				case n.step.Query != "":
					field = n.ptr + "/query"
				case n.step.Ref == "":
					field = n.ptr + "/capability"
				}
				p.Add(field, "%s", platform.ErrorMessage(err))
			default:
				return err
			}
		}
		for _, g := range n.children {
			if err := e.checkAgents(ctx, namespace, g, allowed, p); err != nil {
				return err
			}
		}
		if n.compensation != nil {
			if err := e.checkAgents(ctx, namespace, []*stepNode{n.compensation}, allowed, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// candidates lists the agents that may run a step: the one its ref names,
// or the active agents with its capability, within allowed (empty: any).
func (e *Engine) candidates(ctx context.Context, namespace, ref, capability string, allowed []string) ([]*platform.Agent, error) {
	if ref != "" {
		name := agentName(ref)
		a, err := e.agents.find(ctx, namespace, name)
		if err != nil {
			if platform.ErrorCode(err) == platform.ENOTFOUND {
				return nil, platform.Errorf(platform.ENOTFOUND, "agent %q is not registered", name)
			}
			return nil, err
		}
		switch {
		case len(allowed) > 0 && !slices.Contains(allowed, a.Name):
			return nil, platform.Errorf(platform.EINVALID, "agent %q is not among the agents the run may use", a.Name)
		case a.Status != platform.AgentActive:
			return nil, platform.Errorf(platform.EINVALID, "agent %q is inactive", a.Name)
		}
		return []*platform.Agent{a}, nil
	}
	all, err := e.agents.withCapability(ctx, namespace, capability)
	if err != nil {
		return nil, err
	}
	var out []*platform.Agent
	for _, a := range all {
		if len(allowed) == 0 || slices.Contains(allowed, a.Name) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		if len(allowed) > 0 {
			return nil, platform.Errorf(platform.EINVALID, "none of the run's agents has capability %q", capability)
		}
		return nil, platform.Errorf(platform.EINVALID, "no active agent has capability %q", capability)
	}
	return out, nil
}

// chooseFor picks the agent for one attempt of a step, and for a query
// step says why: the best available agent discovery finds that the
// step's earlier attempts did not fail on (tried), else the best.
func (e *Engine) chooseFor(ctx context.Context, namespace string, s *manifest.Step, allowed, tried []string) (*platform.Agent, *platform.StepChoice, error) {
	if s.Query != "" {
		found, err := e.discover(ctx, namespace, s, allowed)
		if err != nil {
			return nil, nil, err
		}
		d := found[0]
		for _, f := range found {
			if !slices.Contains(tried, f.Agent.Name) {
				d = f
				break
			}
		}
		return d.Agent, &platform.StepChoice{Query: s.Query, Score: d.Score, Similarity: d.Similarity, Matched: d.Matched,
			Rank: d.rank, Candidates: len(found)}, nil
	}
	cands, err := e.candidates(ctx, namespace, s.Ref, s.Capability, allowed)
	if err != nil {
		return nil, nil, err
	}
	return e.agents.choose(cands), nil, nil
}

// queryCandidates is how many agents discovery ranks for a query step.
const queryCandidates = 20

// candidate is an agent discovery found for a query step, with its rank
// in discovery's ranking (from 1; unavailable agents count).
type candidate struct {
	platform.Discovered
	rank int
}

// discover lists the agents that may run query step s, best first: the
// available (active, not unhealthy) agents of namespace discovery finds
// for its query, with its capability when it has one, within allowed
// (empty: any).
func (e *Engine) discover(ctx context.Context, namespace string, s *manifest.Step, allowed []string) ([]candidate, error) {
	if e.cfg.Discoverer == nil {
		return nil, platform.Errorf(platform.EINVALID, "a query step needs agent discovery, which this gateway runs without")
	}
	limit := queryCandidates
	if len(allowed) > 0 {
		limit = platform.MaxPageSize // the allowed may rank low
	}
	found, err := e.cfg.Discoverer.Discover(ctx, platform.DiscoveryQuery{Text: s.Query, Limit: limit,
		Namespaces: []string{namespace}, Capability: s.Capability, Status: platform.AgentActive})
	if err != nil {
		return nil, err
	}
	var out []candidate
	for i, d := range found {
		if d.Available && e.agents.healthOf(d.Agent) != platform.HealthUnhealthy &&
			(len(allowed) == 0 || slices.Contains(allowed, d.Agent.Name)) {
			out = append(out, candidate{d, i + 1})
		}
	}
	if len(out) == 0 {
		what := "no available agent"
		if len(allowed) > 0 {
			what = "none of the run's agents"
		}
		if s.Capability != "" {
			what += fmt.Sprintf(" with capability %q", s.Capability)
		}
		return nil, platform.Errorf(platform.EINVALID, "%s matches the query %q", what, platform.Truncate(s.Query, 100))
	}
	return out, nil
}

// invoke calls a, counting the call in flight and learning its health.
func (e *Engine) invoke(ctx context.Context, a *platform.Agent, inv *platform.Invocation, timeout time.Duration) (json.RawMessage, error) {
	done := e.agents.begin(a)
	defer done()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := e.cfg.Invoker.Invoke(cctx, a, inv)
	if ctx.Err() == nil {
		e.recordCall(a, err)
	}
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		err = &timeoutError{fmt.Errorf("agent %q did not answer within the step timeout of %s: %w", a.Name, timeout, err)}
	}
	return out, err
}

// timeoutError is a call the step timeout cut off; retryable like the
// invocation error it wraps.
type timeoutError struct{ error }

func (e *timeoutError) Unwrap() error { return e.error }

// Execute calls one agent directly: POST /api/v1/agents/{ref}/execute.
func (e *Engine) Execute(ctx context.Context, namespace, ref string, req platform.ExecuteRequest) (*platform.Execution, error) {
	a, err := e.agents.find(ctx, namespace, ref)
	if err != nil {
		return nil, err
	}
	var p platform.Problems
	if a.Status != platform.AgentActive {
		p.Add("/", "agent %q is inactive", a.Name)
	}
	if a.Endpoint == "" {
		p.Add("/", "agent %q has no endpoint", a.Name)
	}
	if req.Capability != "" && !slices.Contains(a.Capabilities, req.Capability) {
		p.Add("/capability", "agent %q does not have capability %q", a.Name, req.Capability)
	}
	if err := p.Err("the agent cannot run this call"); err != nil {
		return nil, err
	}
	input := req.Input
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage(`null`)
	}
	id := uuid.Must(uuid.NewV7())
	inv := &platform.Invocation{
		TaskID:         id.String(),
		Capability:     req.Capability,
		Input:          input,
		IdempotencyKey: cmp.Or(req.IdempotencyKey, id.String()),
		RequestID:      id.String(),
		TraceParent:    traceParent(id),
		Context:        map[string]any{},
	}
	out, err := e.invoke(ctx, a, inv, e.cfg.StepTimeout)
	if err != nil {
		var te *timeoutError
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(err, &te):
			return nil, platform.Errorf(platform.ETIMEOUT, "agent %q did not answer within %s", a.Name, e.cfg.StepTimeout)
		default:
			return nil, platform.Errorf(platform.EBADGATEWAY, "%s", err.Error())
		}
	}
	return &platform.Execution{TaskID: id.String(), Status: "succeeded", Agent: a.Name, Output: out}, nil
}
