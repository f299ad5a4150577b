package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
)

func TestHaltSkipsStepsNotRun(t *testing.T) { backends(t, testHaltSkipsStepsNotRun) }

// testHaltSkipsStepsNotRun checks error_handling.on_failure: halt (the
// default): when a step fails, the steps that were running are cancelled,
// and those that never started (waiting on a dependency, or a container
// that had not begun) are recorded as skipped, saying which step failed,
// with a step.skipped event each.
func testHaltSkipsStepsNotRun(t *testing.T, backend string) {
	t.Parallel()
	e := newEnv(t, backend, engine.Config{})
	release := make(chan struct{})
	twoRunning := make(chan struct{})
	var running atomic.Int32
	e.agent("ok", nil, echo("ok"))
	e.agent("slow", nil, func(agentCall) (int, string) {
		if running.Add(1) == 2 {
			close(twoRunning)
		}
		<-release
		return 200, `{}`
	})
	e.t.Cleanup(func() { close(release) }) // before the agents' servers close
	e.agent("bad", nil, func(agentCall) (int, string) {
		// Fail once both slow calls are in flight, so that they are
		// running when the halt comes.
		select {
		case <-twoRunning:
		case <-time.After(10 * time.Second):
		}
		return 400, `{"error":"bad input"}`
	})
	r := e.run(`{"steps":[
	  {"id":"a","ref":"bad"},
	  {"id":"slow","ref":"slow"},
	  {"id":"b","ref":"ok","depends_on":["a"]},
	  {"id":"c","ref":"ok","depends_on":["slow"]},
	  {"id":"fan","kind":"Parallel","depends_on":["slow"],"parallel":[{"id":"x","ref":"ok"}]},
	  {"id":"grp","kind":"Parallel","parallel":[{"id":"w","ref":"slow"},{"id":"v","ref":"ok","depends_on":["w"]}]}
	]}`, `{}`)
	if r.Status != platform.RunFailed || !strings.Contains(r.Error, `step "a" failed`) {
		t.Fatalf("run: %s", dump(r))
	}
	why := `not run: step "a" failed and error_handling.on_failure is halt`
	want := map[string]struct {
		status platform.StepStatus
		error  string
	}{
		"a":     {platform.StepFailed, "bad input"},
		"slow":  {platform.StepCancelled, `step "a" failed and error_handling.on_failure is halt`},
		"grp":   {platform.StepCancelled, `step "a" failed`},
		"grp/w": {platform.StepCancelled, `step "a" failed`},
		"b":     {platform.StepSkipped, why},
		"c":     {platform.StepSkipped, why},
		"fan":   {platform.StepSkipped, why},
		"grp/v": {platform.StepSkipped, why},
	}
	for id, w := range want {
		s := r.Step(id)
		if s == nil || s.Status != w.status || !strings.Contains(s.Error, w.error) || s.FinishedAt == nil {
			t.Errorf("step %s = %s, want %s with %q", id, dump(s), w.status, w.error)
		}
	}
	if len(r.Steps) != len(want) {
		t.Errorf("%d steps recorded, want %d (fan/x never started and has no record): %s", len(r.Steps), len(want), dump(r.Steps))
	}

	ch, err := platform.ParseChannel("run:" + r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := e.db.SequenceEvents(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
	}
	evs, err := e.db.ListEvents(context.Background(), platform.EventQuery{Channels: []platform.Channel{ch}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, ev := range evs {
		if ev.Type != platform.EventStepSkipped {
			continue
		}
		var d platform.StepEventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		skipped[d.Step] = d.Error
	}
	for _, id := range []string{"b", "c", "fan", "grp/v"} {
		if skipped[id] != why {
			t.Errorf("step.skipped of %s: %q, want %q (all: %v)", id, skipped[id], why, skipped)
		}
	}
	if len(skipped) != 4 {
		t.Errorf("step.skipped events for %v, want b, c, fan and grp/v", skipped)
	}
}
