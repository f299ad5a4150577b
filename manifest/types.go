package manifest

import (
	"encoding/json"
	"fmt"
)

// The typed views of a manifest. Each kind's fields are the union of the
// released versions' fields the platform acts on; members it does not use
// stay reachable through the Document's nodes. Decoding is lenient: a member
// of an unexpected shape is left zero (validation reports it), so every
// valid manifest of every version decodes.

// Metadata is a manifest's metadata.
type Metadata struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description string            `json:"description"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// AgentKind is v0.4's role of an agent (orchestrator, worker, ...).
	AgentKind string `json:"agentKind"`
}

// Agent is an OSSA Agent.
type Agent struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Metadata   Metadata  `json:"metadata"`
	Spec       AgentSpec `json:"spec"`
}

// AgentSpec is the spec of an Agent.
type AgentSpec struct {
	Role string `json:"role"`
	// Type is the v0.1.9-era and v0.3.5 agent type (worker, orchestrator, ...).
	Type         string       `json:"type"`
	LLM          *LLM         `json:"llm"`
	Tools        []Tool       `json:"tools"`
	Capabilities Capabilities `json:"capabilities"`
	// Protocols is the v0.1.9-era protocols.supported list.
	Protocols   Protocols       `json:"protocols"`
	Runtime     *Runtime        `json:"runtime"`
	Endpoint    string          `json:"endpoint"`
	Conformance json.RawMessage `json:"conformance"`
}

// LLM names the model an agent uses.
type LLM struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// Tool is one tool an agent offers or uses.
type Tool struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Endpoint    string `json:"endpoint"`
}

// Protocols lists the protocols an agent speaks (v0.1.9 era).
type Protocols struct {
	Supported []Protocol `json:"supported"`
}

// Protocol is one protocol and where the agent speaks it.
type Protocol struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
}

// Runtime says where and how an agent runs.
type Runtime struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
}

// Capabilities are what an agent can do, in any released form: a list of
// names, a list of objects with a name, or the v0.1.9 {domains, operations}.
type Capabilities struct {
	Names      []string
	Domains    []string
	Operations []string
}

// UnmarshalJSON reads every released shape of capabilities.
func (c *Capabilities) UnmarshalJSON(b []byte) error {
	var list []json.RawMessage
	if json.Unmarshal(b, &list) == nil {
		for _, item := range list {
			var s string
			var named struct {
				Name string `json:"name"`
				ID   string `json:"id"`
			}
			switch {
			case json.Unmarshal(item, &s) == nil:
				c.Names = append(c.Names, s)
			case json.Unmarshal(item, &named) == nil && named.Name != "":
				c.Names = append(c.Names, named.Name)
			case named.ID != "":
				c.Names = append(c.Names, named.ID)
			}
		}
		return nil
	}
	var era struct {
		Domains    []string        `json:"domains"`
		Operations json.RawMessage `json:"operations"`
	}
	if json.Unmarshal(b, &era) == nil {
		c.Domains = era.Domains
		var ops []json.RawMessage
		_ = json.Unmarshal(era.Operations, &ops)
		for _, op := range ops {
			var s string
			var named struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(op, &s) == nil {
				c.Operations = append(c.Operations, s)
			} else if json.Unmarshal(op, &named) == nil && named.Name != "" {
				c.Operations = append(c.Operations, named.Name)
			}
		}
	}
	return nil
}

// Workflow is an OSSA Workflow: steps over agents and tasks.
type Workflow struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   Metadata     `json:"metadata"`
	Spec       WorkflowSpec `json:"spec"`
}

// WorkflowSpec is the spec of a Workflow.
type WorkflowSpec struct {
	// Inputs and Outputs are JSON Schemas of the run's parameters and result.
	Inputs         json.RawMessage  `json:"inputs"`
	Outputs        json.RawMessage  `json:"outputs"`
	Steps          []Step           `json:"steps"`
	TimeoutSeconds float64          `json:"timeout_seconds"`
	ErrorHandling  *ErrorHandling   `json:"error_handling"`
	Context        *WorkflowContext `json:"context"`
}

// WorkflowContext holds variables steps may read.
type WorkflowContext struct {
	Variables map[string]any `json:"variables"`
}

// ErrorHandling says what a failed step does to the run.
type ErrorHandling struct {
	OnFailure string `json:"on_failure"` // halt or continue
}

// Step is one step of a workflow.
type Step struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is Agent, Task, Parallel, Conditional or Loop.
	Kind string `json:"kind"`
	// Ref names an agent, or a manifest path whose metadata.name does.
	Ref string `json:"ref"`
	// Capability (our extension) lets any listed agent with it run the step.
	Capability string `json:"capability"`
	// Query (our extension) says in words what the step needs ("extract
	// line items from invoices"): the run picks the best available agent
	// discovery finds for it, among those with Capability when it is set.
	Query           string          `json:"query"`
	Input           map[string]any  `json:"input"`
	Condition       string          `json:"condition"`
	DependsOn       []string        `json:"depends_on"`
	Branches        []Branch        `json:"branches"`
	Else            []Step          `json:"else"`
	Loop            *Loop           `json:"loop"`
	Retry           *Retry          `json:"retry"`
	TimeoutSeconds  float64         `json:"timeout_seconds"`
	ContinueOnError bool            `json:"continue_on_error"`
	OnError         json.RawMessage `json:"on_error"`
	// Parallel are the steps a Parallel step runs at once.
	Parallel []Step `json:"parallel"`
	// Steps are the nested steps of a Loop or Conditional step.
	Steps []Step `json:"steps"`
}

// Branch is one arm of a Conditional step.
type Branch struct {
	Condition string `json:"condition"`
	Steps     []Step `json:"steps"`
}

// Loop runs a step once per item of a list.
type Loop struct {
	Over        string `json:"over"`
	As          string `json:"as"`
	Parallelism int    `json:"parallelism"`
}

// Retry says how often and how patiently a step is retried.
type Retry struct {
	MaxAttempts     int    `json:"max_attempts"`
	BackoffStrategy string `json:"backoff_strategy"`
	InitialDelayMS  int    `json:"initial_delay_ms"`
}

// Task is an OSSA Task: deterministic steps without an LLM loop.
type Task struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       TaskSpec `json:"spec"`
}

// TaskSpec is the spec of a Task.
type TaskSpec struct {
	Execution    TaskExecution   `json:"execution"`
	Capabilities Capabilities    `json:"capabilities"`
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output"`
	Dependencies json.RawMessage `json:"dependencies"`
}

// TaskExecution says how a Task runs.
type TaskExecution struct {
	// Type is deterministic, idempotent or transactional.
	Type       string `json:"type"`
	Runtime    string `json:"runtime"`
	Entrypoint string `json:"entrypoint"`
}

// Flow is an OSSA Flow: a state machine (v0.3.x and later).
type Flow struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       FlowSpec `json:"spec"`
}

// FlowSpec is the spec of a Flow.
type FlowSpec struct {
	Schema      FlowSchema       `json:"flow_schema"`
	Transitions []FlowTransition `json:"transitions"`
}

// FlowSchema names a Flow's states and where it starts.
type FlowSchema struct {
	InitialState string      `json:"initial_state"`
	States       []FlowState `json:"states"`
}

// FlowState is one state of a Flow.
type FlowState struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// FlowTransition moves a Flow from one state to another.
type FlowTransition struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Trigger any    `json:"trigger"`
}

// AgentTest is an OSSA AgentTest: test cases against a target agent.
type AgentTest struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   Metadata      `json:"metadata"`
	Spec       AgentTestSpec `json:"spec"`
}

// AgentTestSpec is the spec of an AgentTest.
type AgentTestSpec struct {
	Target    TestTarget     `json:"target"`
	Scenarios []TestScenario `json:"scenarios"`
}

// TestTarget names the agent under test.
type TestTarget struct {
	Agent   string `json:"agent"`
	Version string `json:"version"`
}

// TestScenario is one test case: an input and what must come out.
type TestScenario struct {
	Name       string          `json:"name"`
	Input      map[string]any  `json:"input"`
	Expected   json.RawMessage `json:"expected"`
	Assertions json.RawMessage `json:"assertions"`
}

// Decode returns the typed view of the document's kind: *Agent, *Workflow,
// *Task, *Flow or *AgentTest. Members of unexpected shapes are left zero.
func (d *Document) Decode() (any, error) {
	var v any
	switch d.Kind() {
	case "Agent":
		v = &Agent{}
	case "Workflow":
		v = &Workflow{}
	case "Task":
		v = &Task{}
	case "Flow":
		v = &Flow{}
	case "AgentTest":
		v = &AgentTest{}
	default:
		return nil, fmt.Errorf("kind %q has no typed view", d.Kind())
	}
	b, err := d.Root.MarshalJSON()
	if err != nil {
		return nil, err
	}
	// A type mismatch leaves that member zero and decoding goes on: the
	// schema, not this view, judges shapes.
	_ = json.Unmarshal(b, v)
	return v, nil
}
