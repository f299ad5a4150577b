package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ossa-platform/platform"
)

// Why a run's context ends before its steps do.
var (
	errCancelled = errors.New("the run was cancelled")
	errTimedOut  = errors.New("the run did not finish within its timeout_seconds")
	errHalted    = errors.New("a step failed and error_handling.on_failure is halt")
	errLeaseLost = errors.New("this gateway lost the run's lease")
	errStore     = errors.New("the database could not record the run's progress")
)

// haltError is the cause that ends a run's context when a step failed and
// error_handling.on_failure is halt; it is errHalted, naming the step.
type haltError struct{ step string }

func (h *haltError) Error() string {
	return fmt.Sprintf("step %q failed and error_handling.on_failure is halt", h.step)
}

func (h *haltError) Is(target error) bool { return target == errHalted }

// Defaults of a step's retry block.
const (
	defaultMaxAttempts  = 3
	defaultInitialDelay = 500 * time.Millisecond
	maxRetryDelay       = 30 * time.Second
	// maxLoopItems bounds how many iterations one loop step may have.
	maxLoopItems = 10_000
)

// ExecuteRun executes a run to its end, or until this gateway stops or
// loses the run's lease. It returns an error only when the queue should
// try again later (the database failed).
func (e *Engine) ExecuteRun(ctx context.Context, id string) error {
	run, err := e.cfg.Runs.AcquireRun(ctx, id, e.cfg.Owner, e.cfg.Now().Add(e.cfg.LeaseTTL))
	switch code := platform.ErrorCode(err); {
	case code == platform.ECONFLICT:
		// Another live executor owns the run; if it dies, the reaper
		// requeues the run once its lease expires.
		return nil
	case code == platform.ENOTFOUND:
		e.log.Warn("queued run not found", "run", id)
		return nil
	case err != nil:
		return err
	case run.Status.Terminal():
		return nil
	}
	r := &runner{e: e, run: run, steps: map[string]*platform.StepRun{}}
	for _, s := range run.Steps {
		r.steps[s.ID] = s
	}
	pl, err := compile(run.Definition, "/workflow")
	if err != nil {
		return r.finish(ctx, platform.RunFailed, nil, err.Error())
	}
	r.plan = pl
	_ = json.Unmarshal(run.Parameters, &r.params)
	return r.execute(ctx)
}

// runner is one execution of one run by this gateway.
type runner struct {
	e      *Engine
	run    *platform.Run
	plan   *plan
	params any
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	steps map[string]*platform.StepRun
}

func (r *runner) execute(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.cancel = cancel
	if r.plan.timeout > 0 && r.run.StartedAt != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, r.run.StartedAt.Add(r.plan.timeout), errTimedOut)
		defer stop()
	}
	keep := make(chan struct{})
	go func() {
		defer close(keep)
		r.keepLease(ctx)
	}()
	r.e.log.Info("run started", "run", r.run.ID, "workflow", r.run.Workflow, "owner", r.e.cfg.Owner)

	outputs, failure := r.runGroup(ctx, r.plan.steps, "", r.rootScope())
	cause := context.Cause(ctx)
	cancel(nil)
	<-keep
	if parent.Err() != nil {
		// The queue is stopping (this gateway shuts down): give the lease
		// back, expired, so that a live gateway's reaper requeues the run
		// at its next pass instead of after the lease's TTL. Without it
		// (a crash) the lease expires by itself.
		rctx, stop := context.WithTimeout(context.WithoutCancel(parent), 2*time.Second)
		defer stop()
		_, _ = r.e.cfg.Runs.RenewRun(rctx, r.run.ID, r.e.cfg.Owner, r.e.cfg.Now())
		return parent.Err()
	}
	switch {
	case errors.Is(cause, errLeaseLost):
		r.e.log.Warn("run lease lost; another gateway carries on", "run", r.run.ID)
		return nil
	case errors.Is(cause, errStore):
		return cause
	case errors.Is(cause, errCancelled):
		return r.finish(parent, platform.RunCancelled, nil, errCancelled.Error())
	case errors.Is(cause, errTimedOut):
		return r.finish(parent, platform.RunTimedOut, nil,
			fmt.Sprintf("%s (%s)", errTimedOut, r.plan.timeout))
	case failure != nil:
		return r.finish(parent, platform.RunFailed, nil, failure.Error())
	}
	out, err := json.Marshal(outputs)
	if err != nil {
		return r.finish(parent, platform.RunFailed, nil, "the run's output is not JSON: "+err.Error())
	}
	return r.finish(parent, platform.RunSucceeded, out, "")
}

// keepLease renews the lease until ctx ends, and ends the run's context
// when a cancel is requested or the lease is lost.
func (r *runner) keepLease(ctx context.Context) {
	ttl := r.e.cfg.LeaseTTL
	every := min(ttl/3, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := r.e.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.e.cfg.Now()
		cancelled, err := r.e.cfg.Runs.RenewRun(ctx, r.run.ID, r.e.cfg.Owner, now.Add(ttl))
		switch {
		case err == nil && cancelled:
			r.cancel(errCancelled)
		case err == nil:
			lastOK = now
		case platform.ErrorCode(err) == platform.ECONFLICT:
			r.cancel(errLeaseLost)
		case now.Sub(lastOK) > ttl && ctx.Err() == nil:
			r.e.log.Error("renew run lease", "run", r.run.ID, "error", err.Error())
			r.cancel(errLeaseLost)
		}
	}
}

// finish records the run's end. It uses a context of its own so that a
// cancelled or timed-out run can still be recorded as such.
func (r *runner) finish(parent context.Context, status platform.RunStatus, out json.RawMessage, msg string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	err := r.e.cfg.Runs.FinishRun(ctx, r.run.ID, r.e.cfg.Owner, status, out, msg)
	if platform.ErrorCode(err) == platform.ECONFLICT {
		return nil // lost the lease on the last stretch; the new owner finishes
	}
	if err == nil {
		r.e.log.Info("run finished", "run", r.run.ID, "status", status, "error", msg)
	}
	return err
}

// save records a step's state; a failure to record ends the run's context
// (lease lost, or the database failing) so no work goes unrecorded.
func (r *runner) save(ctx context.Context, s *platform.StepRun) {
	c := *s
	r.mu.Lock()
	r.steps[s.ID] = &c
	r.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := r.e.cfg.Runs.SaveStep(sctx, r.run.ID, r.e.cfg.Owner, &c)
	switch {
	case err == nil:
	case platform.ErrorCode(err) == platform.ECONFLICT:
		r.cancel(errLeaseLost)
	default:
		r.e.log.Error("save step", "run", r.run.ID, "step", s.ID, "error", err.Error())
		// The store's error stays text: the run ends for errStore, not
		// for whatever code the store's error carries.
		r.cancel(fmt.Errorf("%w: %v", errStore, err)) //nolint:errorlint // see above
	}
}

func (r *runner) recorded(path string) *platform.StepRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.steps[path]; s != nil {
		c := *s
		return &c
	}
	return nil
}

func (r *runner) now() *time.Time {
	t := r.e.cfg.Now().UTC()
	return &t
}

// result is how a step ended, as its dependents see it.
type result struct {
	output any
	status platform.StepStatus
	// blocking is set when the step failed and did not continue on error.
	blocking error
}

// runGroup runs sibling steps as a DAG and returns the outputs of those
// that succeeded, by ID, and the first blocking failure.
func (r *runner) runGroup(ctx context.Context, nodes []*stepNode, prefix string, sc *scope) (map[string]any, error) {
	type slot struct {
		done chan struct{}
		res  result
	}
	slots := make(map[string]*slot, len(nodes))
	for _, n := range nodes {
		slots[n.step.ID] = &slot{done: make(chan struct{})}
	}
	local := sc.child()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sl := slots[n.step.ID]
			defer close(sl.done)
			var failedDep string
			for _, d := range n.deps {
				select {
				case <-slots[d].done:
					if slots[d].res.blocking != nil && failedDep == "" {
						failedDep = d
					}
				case <-ctx.Done():
				}
			}
			path := prefix + n.step.ID
			switch {
			case errors.Is(context.Cause(ctx), errHalted):
				sl.res = r.notRun(ctx, path)
				return
			case ctx.Err() != nil:
				sl.res = result{status: platform.StepCancelled, blocking: context.Cause(ctx)}
				return
			case failedDep != "":
				sl.res = r.skip(ctx, path, fmt.Sprintf("step %q it depends on failed", failedDep))
				sl.res.blocking = fmt.Errorf("step %q was skipped because step %q failed", path, failedDep)
				return
			}
			sl.res = r.runStep(ctx, n, path, local)
			local.set(n.step.ID, sl.res)
			if sl.res.blocking != nil && r.plan.haltOnFailure {
				r.cancel(&haltError{step: path})
			}
		}()
	}
	wg.Wait()
	outputs := map[string]any{}
	var failure error
	for _, n := range nodes {
		res := slots[n.step.ID].res
		if res.status == platform.StepSucceeded {
			outputs[n.step.ID] = res.output
		}
		if res.blocking != nil && (failure == nil || errors.Is(failure, errHalted)) {
			failure = res.blocking
		}
	}
	return outputs, failure
}

func (r *runner) skip(ctx context.Context, path, why string) result {
	if rec := r.recorded(path); rec == nil || rec.Status != platform.StepSkipped {
		now := r.now()
		r.save(ctx, &platform.StepRun{ID: path, Status: platform.StepSkipped, Error: why, StartedAt: now, FinishedAt: now})
	}
	return result{status: platform.StepSkipped}
}

// notRun records a step that the halt of its run kept from starting as
// skipped, saying which step failed: the steps that waited on others, and
// containers that never began. A step an earlier execution of the run
// left unfinished (its gateway died) is cancelled; one it finished keeps
// its record.
func (r *runner) notRun(ctx context.Context, path string) result {
	cause := context.Cause(ctx)
	res := result{status: platform.StepCancelled, blocking: cause}
	switch rec := r.recorded(path); {
	case rec == nil:
		now := r.now()
		r.save(ctx, &platform.StepRun{ID: path, Status: platform.StepSkipped, Error: "not run: " + cause.Error(),
			StartedAt: now, FinishedAt: now})
		res.status = platform.StepSkipped
	case !rec.Status.Terminal():
		rec.Status, rec.Error, rec.FinishedAt = platform.StepCancelled, cause.Error(), r.now()
		r.save(ctx, rec)
	}
	return res
}

// runStep runs one step, or returns what an earlier execution recorded.
func (r *runner) runStep(ctx context.Context, n *stepNode, path string, sc *scope) result {
	if errors.Is(context.Cause(ctx), errHalted) {
		// Another step failed between this one's turn and its start.
		return r.notRun(ctx, path)
	}
	if rec := r.recorded(path); rec != nil {
		switch rec.Status {
		case platform.StepSucceeded:
			var out any
			_ = json.Unmarshal(rec.Output, &out)
			return result{output: out, status: platform.StepSucceeded}
		case platform.StepSkipped:
			return result{status: platform.StepSkipped}
		case platform.StepFailed:
			return r.failed(n, path, errors.New(rec.Error))
		}
	}
	vars := sc.values()
	if ok, err := holds(n.cond, vars); err != nil {
		return r.fail(ctx, n, &platform.StepRun{ID: path, StartedAt: r.now()}, "condition: "+err.Error())
	} else if !ok {
		return r.skip(ctx, path, "its condition is false")
	}
	var res result
	switch n.kind {
	case kindParallel:
		res = r.runContainer(ctx, n, path, func(rec *platform.StepRun) (any, error) {
			return r.runGroup(ctx, n.children[0], path+"/", sc)
		})
	case kindConditional:
		res = r.runContainer(ctx, n, path, func(rec *platform.StepRun) (any, error) {
			return r.runBranch(ctx, n, path, sc, vars)
		})
	case kindLoop:
		res = r.runContainer(ctx, n, path, func(rec *platform.StepRun) (any, error) {
			return r.runLoop(ctx, n, path, sc, vars)
		})
	default:
		res = r.call(ctx, n, path, vars)
	}
	if res.blocking != nil && n.onError == "compensate" && ctx.Err() == nil {
		comp := r.runStep(ctx, n.compensation, path+"/compensation", sc)
		if comp.blocking != nil {
			res.blocking = fmt.Errorf("%w; its compensation failed too: %w", res.blocking, comp.blocking)
		}
	}
	return res
}

// failed is the result of a step that failed with err.
func (r *runner) failed(n *stepNode, path string, err error) result {
	res := result{status: platform.StepFailed}
	if n.onError != "continue" {
		res.blocking = fmt.Errorf("step %q failed: %w", path, err)
	}
	return res
}

// fail records a step's failure and returns its result.
func (r *runner) fail(ctx context.Context, n *stepNode, rec *platform.StepRun, msg string) result {
	rec.Status, rec.Error, rec.FinishedAt = platform.StepFailed, msg, r.now()
	r.save(ctx, rec)
	return r.failed(n, rec.ID, errors.New(msg))
}

// runContainer records a Parallel, Conditional or Loop step around body.
func (r *runner) runContainer(ctx context.Context, n *stepNode, path string, body func(*platform.StepRun) (any, error)) result {
	rec := r.recorded(path)
	if rec == nil {
		rec = &platform.StepRun{ID: path, StartedAt: r.now()}
	}
	if rec.Status != platform.StepRunning {
		rec.Status, rec.Attempts = platform.StepRunning, rec.Attempts+1
		r.save(ctx, rec)
	}
	out, err := body(rec)
	if ctx.Err() != nil {
		return r.interrupted(ctx, rec)
	}
	if err != nil {
		return r.fail(ctx, n, rec, err.Error())
	}
	b, err := json.Marshal(out)
	if err != nil {
		return r.fail(ctx, n, rec, "output is not JSON: "+err.Error())
	}
	rec.Status, rec.Output, rec.Error, rec.FinishedAt = platform.StepSucceeded, b, "", r.now()
	r.save(ctx, rec)
	return result{output: out, status: platform.StepSucceeded}
}

// interrupted records a step stopped by the end of the run's context: as
// cancelled when the run ends for good, untouched when the run resumes
// elsewhere (lease lost, gateway stopping).
func (r *runner) interrupted(ctx context.Context, rec *platform.StepRun) result {
	cause := context.Cause(ctx)
	if errors.Is(cause, errHalted) && r.recorded(rec.ID) == nil {
		return r.notRun(ctx, rec.ID) // halted before its first attempt began
	}
	if errors.Is(cause, errCancelled) || errors.Is(cause, errTimedOut) || errors.Is(cause, errHalted) {
		rec.Status, rec.Error, rec.FinishedAt = platform.StepCancelled, cause.Error(), r.now()
		r.save(ctx, rec)
	}
	return result{status: platform.StepCancelled, blocking: cause}
}

// runBranch runs the steps of the first branch whose condition holds, or
// the else steps.
func (r *runner) runBranch(ctx context.Context, n *stepNode, path string, sc *scope, vars map[string]any) (any, error) {
	for i, cond := range n.branches {
		ok, err := holds(cond, vars)
		if err != nil {
			return nil, fmt.Errorf("branch %d condition: %w", i, err)
		}
		if ok {
			return r.runGroup(ctx, n.children[i], fmt.Sprintf("%s/%d/", path, i), sc)
		}
	}
	return r.runGroup(ctx, n.children[len(n.children)-1], path+"/else/", sc)
}

// runLoop runs the loop's steps once per item, parallelism at a time. The
// output lists each iteration's outputs: the single step's output when the
// loop has one step, else the outputs by step ID.
func (r *runner) runLoop(ctx context.Context, n *stepNode, path string, sc *scope, vars map[string]any) (any, error) {
	v, err := n.over.Eval(vars)
	if err != nil {
		return nil, fmt.Errorf("loop.over: %w", err)
	}
	items, ok := v.([]any)
	switch {
	case v == nil:
		items = nil
	case !ok:
		return nil, fmt.Errorf("loop.over must give a list, not %s", typeName(v))
	case len(items) > maxLoopItems:
		return nil, fmt.Errorf("loop.over gives %d items, more than the %d allowed", len(items), maxLoopItems)
	}
	par := max(n.step.Loop.Parallelism, 1)
	sem := make(chan struct{}, par)
	outs := make([]any, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, item := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			loop := map[string]any{"item": item, "index": float64(i)}
			if n.step.Loop.As != "" {
				loop[n.step.Loop.As] = item
			}
			out, err := r.runGroup(ctx, n.children[0], fmt.Sprintf("%s[%d]/", path, i), sc.withLoop(loop))
			errs[i] = err
			if len(n.children[0]) == 1 {
				outs[i] = out[n.children[0][0].step.ID]
			} else {
				outs[i] = out
			}
		}()
	}
	wg.Wait()
	return outs, errors.Join(errs...)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
