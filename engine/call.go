package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/expr"
)

// call runs an Agent or Task step: choose an agent, call it, retry what
// may succeed on another attempt.
func (r *runner) call(ctx context.Context, n *stepNode, path string, vars map[string]any) result {
	rec := r.recorded(path)
	if rec == nil {
		rec = &platform.StepRun{ID: path}
	}
	rendered, err := expr.Render(n.step.Input, vars)
	if err != nil {
		return r.fail(ctx, n, rec, "input: "+err.Error())
	}
	input, err := json.Marshal(rendered)
	if err != nil {
		return r.fail(ctx, n, rec, "input is not JSON: "+err.Error())
	}
	maxAttempts, delay, strategy := retryPolicy(n)
	// An attempt cut off by a crash is tried again even when it was the
	// last one allowed: it never got an answer.
	maxAttempts = max(maxAttempts, rec.Attempts+1)
	timeout := r.e.cfg.StepTimeout
	if n.step.TimeoutSeconds > 0 {
		timeout = seconds(n.step.TimeoutSeconds)
	}
	runUUID, _ := uuid.Parse(r.run.ID)
	inv := &platform.Invocation{
		TaskID:         uuid.NewSHA1(runUUID, []byte(path)).String(),
		RunID:          r.run.ID,
		Step:           path,
		Capability:     n.step.Capability,
		Input:          input,
		IdempotencyKey: r.run.ID + "/" + path,
	}
	var tried []string // the agents this call's attempts failed on
	for attempt := rec.Attempts + 1; ; attempt++ {
		a, choice, err := r.e.chooseFor(ctx, r.run.Namespace, n.step, r.run.Agents, tried)
		if err != nil {
			if ctx.Err() != nil {
				return r.interrupted(ctx, rec)
			}
			return r.fail(ctx, n, rec, err.Error())
		}
		rec.Status, rec.Attempts, rec.Agent, rec.Choice = platform.StepRunning, attempt, a.Name, choice
		if rec.StartedAt == nil {
			rec.StartedAt = r.now()
		}
		r.save(ctx, rec)
		inv.RequestID = uuid.NewString()
		inv.TraceParent = traceParent(runUUID)
		inv.Context = map[string]any{"workflow": r.run.Workflow, "attempt": attempt, "variables": r.plan.vars}
		out, err := r.e.invoke(ctx, a, inv, timeout)
		if err == nil {
			rec.Status, rec.Output, rec.Error, rec.FinishedAt = platform.StepSucceeded, out, "", r.now()
			r.save(ctx, rec)
			var v any
			_ = json.Unmarshal(out, &v)
			return result{output: v, status: platform.StepSucceeded}
		}
		if ctx.Err() != nil {
			return r.interrupted(ctx, rec)
		}
		if !platform.IsRetryable(err) || attempt >= maxAttempts {
			msg := err.Error()
			if attempt > 1 {
				msg = fmt.Sprintf("%s (attempt %d of %d)", msg, attempt, maxAttempts)
			}
			return r.fail(ctx, n, rec, msg)
		}
		rec.Status, rec.Error = platform.StepRetrying, err.Error()
		tried = append(tried, a.Name)
		r.save(ctx, rec)
		wait := backoff(strategy, delay, attempt)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return r.interrupted(ctx, rec)
		}
	}
}

// retryPolicy reads a step's retry block with its defaults.
func retryPolicy(n *stepNode) (attempts int, delay time.Duration, strategy string) {
	attempts, delay, strategy = defaultMaxAttempts, defaultInitialDelay, "exponential"
	if rt := n.step.Retry; rt != nil {
		if rt.MaxAttempts > 0 {
			attempts = rt.MaxAttempts
		}
		if rt.InitialDelayMS > 0 {
			delay = time.Duration(rt.InitialDelayMS) * time.Millisecond
		}
		if rt.BackoffStrategy != "" {
			strategy = rt.BackoffStrategy
		}
	}
	return attempts, delay, strategy
}

// backoff is the wait after a failed attempt: fixed, linear or
// exponential from the initial delay, with ±10% jitter, at most 30s.
func backoff(strategy string, initial time.Duration, attempt int) time.Duration {
	d := initial
	switch strategy {
	case "linear":
		d = initial * time.Duration(attempt)
	case "fixed", "constant":
	default:
		for i := 1; i < attempt && d < maxRetryDelay; i++ {
			d *= 2
		}
	}
	d = min(d, maxRetryDelay)
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return d + jitter
}

// traceParent starts a W3C trace context whose trace ID is the run's ID,
// so every call of one run shares one trace.
func traceParent(run uuid.UUID) string {
	span := make([]byte, 8)
	for i := range span {
		span[i] = byte(rand.IntN(256))
	}
	span[0] |= 1 // never all zero
	return "00-" + hex.EncodeToString(run[:]) + "-" + hex.EncodeToString(span) + "-01"
}
