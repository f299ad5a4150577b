package agenttest

import (
	"encoding/json"
	"time"
)

// Suite is an AgentTest manifest read for running: the agent under test,
// how to run, and the scenarios.
type Suite struct {
	APIVersion  string
	Name        string // metadata.name
	Version     string // metadata.version
	Description string // metadata.description
	Target      Target
	Config      Config
	Scenarios   []Scenario
}

// Target names the agent under test.
type Target struct {
	Agent   string `json:"agent"`
	Version string `json:"version,omitempty"`
}

// Config is spec.config: how a runner runs the scenarios. The package
// itself reads none of it; a runner does.
type Config struct {
	// Timeout bounds one scenario's call to the agent. Default 60 s
	// (timeout_seconds).
	Timeout time.Duration
	// Retries is how many more times a failed scenario is run. Default 0.
	Retries int
	// Parallel lets scenarios run at the same time. Default false.
	Parallel bool
	// FailFast stops at the first failed scenario, the rest reported as
	// skipped. Default true, as the OSSA schema says.
	FailFast bool
	// Record asks the runner to keep the interactions. Default false.
	Record bool
}

// DefaultTimeout is Config.Timeout when timeout_seconds is not given.
const DefaultTimeout = 60 * time.Second

// Scenario is one test case: an input for the agent and the assertions
// its answer must pass.
type Scenario struct {
	Name        string
	Description string
	// Input is the scenario's input, a JSON object, as written.
	Input json.RawMessage
	// Mocks is the scenario's mocks member (a JSON object) as written, nil
	// when absent; a runner that can stub tools reads it.
	Mocks json.RawMessage
	// Assertions are those implied by expected (output, tools_called,
	// max_latency_ms, max_tokens, max_turns, in that order) followed by
	// those of assertions, each compiled.
	Assertions []Assertion
	// Pointer locates the scenario in its manifest: "/spec/scenarios/2".
	Pointer string
}

// Type is an assertion's kind.
type Type string

// Assertion types. The first six are those of the OSSA AgentTest schema;
// json_schema, max_latency_ms, max_tokens and max_turns are the
// platform's (the last three also come from a scenario's expected).
const (
	Equals      Type = "equals"
	Contains    Type = "contains"
	NotContains Type = "not_contains"
	Matches     Type = "matches"
	JSONPath    Type = "json_path"
	ToolCalled  Type = "tool_called"
	JSONSchema  Type = "json_schema"
	MaxLatency  Type = "max_latency_ms"
	MaxTokens   Type = "max_tokens"
	MaxTurns    Type = "max_turns"
)

// Types lists every assertion type, in the order docs/agent-tests.md
// describes them.
var Types = []Type{Equals, Contains, NotContains, Matches, JSONPath, JSONSchema, MaxLatency, MaxTokens, MaxTurns, ToolCalled}

// Observation is what running a scenario against an agent gave.
type Observation struct {
	// Output is the agent's answer. JSON is judged as JSON; anything else
	// as a string of its bytes. Nil means no answer.
	Output json.RawMessage
	// Latency is how long the agent took to answer.
	Latency time.Duration
	// ToolsCalled names the tools the agent used, from its answer or its
	// trace, in the order used; repeats allowed.
	ToolsCalled []string
	// Tokens and Turns are what the agent reported spending, 0 when it did
	// not say: max_tokens and max_turns then fail rather than pass
	// unchecked.
	Tokens int
	Turns  int
	// Err is why the call failed (transport, timeout, the agent's own
	// error), nil when it answered. A scenario whose call failed counts as
	// an error, not a failure, and its assertions are not evaluated.
	Err error
}
