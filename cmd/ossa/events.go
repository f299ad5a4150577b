package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

const eventsUsage = `Usage: ossa events [--channel NAME]... [--since ID] [--count N] [flags]

Prints the gateway's events as they happen, one line each, until interrupted
(exit 0), or until --count events are printed (exit 0). A dropped connection
is resumed where it broke.

Flags:
  --channel NAME       *, agent-events, workflow-events, run-events, run:<id> or
                       agent:<name>; repeat for several (default *)
  --since ID           first replay the kept events after this event ID (0: all)
  --count N            exit after N events (default 0: follow until interrupted);
                       with --since, the replayed events count first
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --ca-file FILE       PEM certificates of the authorities to trust for an https:// gateway,
                       besides the system's (default $OSSA_CA_FILE)
  --output FORMAT      table (one line per event) or json (one JSON object per line)
`

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runEvents runs `ossa events`.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &agentsCLI{command: "ossa events", stdout: stdout, stderr: stderr, getenv: getenv, help: eventsUsage}
	fs := c.flagSet("", "[flags]")
	var channels stringList
	fs.Var(&channels, "channel", "a `channel` to follow; repeat for several (default *)")
	since := fs.Int64("since", -1, "replay the kept events after this event `ID` first (0: all)")
	count := fs.Int("count", 0, "exit after `N` events (0: follow until interrupted)")
	err := func() error {
		if _, err := c.parse(args); err != nil {
			return err
		}
		if *count < 0 {
			return usageErrorf("--count must be 0 (follow until interrupted) or more, not %d", *count)
		}
		for _, ch := range channels {
			if _, err := platform.ParseChannel(ch); err != nil {
				return usageErrorf("--channel: %s", platform.ErrorMessage(err))
			}
		}
		printed := 0
		err := c.client().Events(ctx, channels, *since, func(e *platform.Event) error {
			if err := c.printEvent(e); err != nil {
				return err
			}
			if printed++; printed == *count {
				return errEnoughEvents
			}
			return nil
		})
		if errors.Is(err, errEnoughEvents) {
			return nil
		}
		return err
	}()
	return c.exit(err)
}

// errEnoughEvents ends `ossa events --count N` after the Nth event.
var errEnoughEvents = errors.New("enough events")

// printEvent prints one event as a line: its ID, time, type and what it
// says, or as JSON with --output json.
func (c *agentsCLI) printEvent(e *platform.Event) error {
	if c.output == "json" {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "%-6d %s  %-21s %s\n", e.ID, e.Time.Local().Format("15:04:05.000"), e.Type, summary(e))
	return err
}

// summary is what an event says, in a few words.
func summary(e *platform.Event) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	switch e.Stream() {
	case "agent":
		var d platform.AgentEventData
		_ = json.Unmarshal(e.Data, &d)
		add("agent", d.Name)
		if e.Type == platform.EventAgentHealthChanged {
			add("health", string(d.PreviousHealth)+"→"+string(d.Health.Status))
			add("reason", d.Health.Reason)
		}
	case "workflow":
		var d platform.WorkflowEventData
		_ = json.Unmarshal(e.Data, &d)
		add("workflow", d.Name)
	default:
		var run platform.RunEventData
		var step platform.StepEventData
		_ = json.Unmarshal(e.Data, &run)
		_ = json.Unmarshal(e.Data, &step)
		add("run", run.RunID)
		add("workflow", run.Workflow)
		add("step", step.Step)
		add("agent", step.Agent)
		if step.Attempt > 1 {
			add("attempt", fmt.Sprint(step.Attempt))
		}
		add("error", oneLine(run.Error))
	}
	return strings.Join(parts, " ")
}

const runUsage = `Usage: ossa run WORKFLOW [--param KEY=VALUE]... [--follow] [flags]

Starts a run of a stored workflow (its name or ID). With --follow it shows
each step as it happens and the run's output, and exits 1 unless the run
succeeds; without, it prints the run's ID and returns at once.

Flags:
  --param KEY=VALUE    a parameter; VALUE is read as JSON when it is JSON
                       (42, true, {"a":1}), else as a string; repeat for several
  --params JSON        all parameters as one JSON object (--param adds to it)
  --agent NAME         an agent the run may use; repeat for several (default: any)
  --follow             follow the run until it ends
  --server URL         the gateway (default $OSSA_SERVER, else http://localhost:3100)
  --api-key KEY        the API key (default $OSSA_API_KEY, else, for a gateway on this
                       machine, the admin key its first start wrote to $OSSA_DATA_DIR/admin.key)
  --ca-file FILE       PEM certificates of the authorities to trust for an https:// gateway,
                       besides the system's (default $OSSA_CA_FILE)
  --output FORMAT      table or json (with --follow: the events as JSON lines, then the run)
`

// runRun runs `ossa run WORKFLOW`.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &agentsCLI{command: "ossa run", stdout: stdout, stderr: stderr, getenv: getenv, help: runUsage}
	fs := c.flagSet("", "WORKFLOW [flags]")
	var params, agents stringList
	fs.Var(&params, "param", "a parameter as `KEY=VALUE`; repeat for several")
	all := fs.String("params", "", "every parameter as one `JSON` object")
	fs.Var(&agents, "agent", "an agent `name` the run may use; repeat for several")
	follow := fs.Bool("follow", false, "follow the run until it ends")
	err := func() error {
		pos, err := c.parse(args, "WORKFLOW")
		if err != nil {
			return err
		}
		p, err := parseParams(*all, params)
		if err != nil {
			return err
		}
		req := ohttp.OrchestrateRequest{Workflow: pos[0], Agents: agents}
		if p != nil {
			req.Parameters = p
		}
		run, err := c.client().Orchestrate(ctx, req, 0)
		if err != nil {
			return err
		}
		if !*follow {
			if c.output == "json" {
				return c.printJSON(run)
			}
			_, err := fmt.Fprintf(c.stdout, "Run %s of %s: %s\n", run.ID, pos[0], run.Status)
			return err
		}
		return c.followRun(ctx, run.ID)
	}()
	return c.exit(err)
}

// errRunDidNotSucceed ends `ossa run --follow` with exit code 1 after the
// run's own report.
type errRunDidNotSucceed struct{ status platform.RunStatus }

func (e errRunDidNotSucceed) Error() string { return "the run " + string(e.status) }

// followRun prints a run's progress from its events, then the run.
func (c *agentsCLI) followRun(ctx context.Context, id string) error {
	start := time.Now()
	show := func(e *platform.Event) error {
		if c.output == "json" {
			return c.printEvent(e)
		}
		var d struct {
			platform.StepEventData
			Workflow string `json:"workflow"`
		}
		_ = json.Unmarshal(e.Data, &d)
		at := fmt.Sprintf("%7.3fs", time.Since(start).Seconds())
		var line string
		switch e.Type {
		case platform.EventRunQueued:
			line = fmt.Sprintf("run %s of %s queued", id, d.Workflow)
		case platform.EventRunStarted:
			line = "run started"
		case platform.EventStepStarted:
			line = fmt.Sprintf("  %s started on %s", d.Step, orDash(d.Agent))
			if d.Attempt > 1 {
				line += fmt.Sprintf(" (attempt %d)", d.Attempt)
			}
		case platform.EventStepRetrying:
			line = fmt.Sprintf("  %s failed, retrying: %s", d.Step, oneLine(d.Error))
		case platform.EventStepSucceeded, platform.EventStepFailed, platform.EventStepSkipped, platform.EventStepCancelled:
			line = fmt.Sprintf("  %s %s", d.Step, strings.TrimPrefix(e.Type, "step."))
			if d.Duration != nil {
				line += fmt.Sprintf(" in %s", (time.Duration(*d.Duration * float64(time.Millisecond))).Round(time.Millisecond))
			}
			if d.Error != "" {
				line += ": " + oneLine(d.Error)
			}
		default:
			line = "run " + strings.TrimPrefix(e.Type, "run.")
			if d.Error != "" {
				line += ": " + oneLine(d.Error)
			}
		}
		_, err := fmt.Fprintf(c.stdout, "%s  %s\n", at, line)
		return err
	}
	end, err := c.client().RunEvents(ctx, id, show)
	if err != nil {
		return err
	}
	run, err := c.client().GetRun(ctx, id)
	if err != nil {
		return err
	}
	if c.output == "json" {
		err = c.printJSON(run)
	} else if len(run.Output) > 0 {
		_, err = fmt.Fprintf(c.stdout, "Output: %s\n", run.Output)
	}
	if err != nil {
		return err
	}
	if end.Type != platform.EventRunSucceeded {
		return errRunDidNotSucceed{run.Status}
	}
	return nil
}

// parseParams merges --params and each --param KEY=VALUE into one JSON
// object; a VALUE that is JSON counts as JSON, any other as a string.
func parseParams(all string, each []string) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if all != "" {
		if err := json.Unmarshal([]byte(all), &obj); err != nil {
			return nil, usageErrorf("--params must be a JSON object, such as '{\"topic\":\"go\"}'")
		}
	}
	for _, kv := range each {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--param %q: want KEY=VALUE", kv)
		}
		if json.Valid([]byte(v)) {
			obj[k] = json.RawMessage(v)
		} else {
			b, _ := json.Marshal(v)
			obj[k] = b
		}
	}
	if len(obj) == 0 {
		return nil, nil
	}
	return json.Marshal(obj)
}
