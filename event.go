package platform

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Event types: every state change of an agent, a workflow, a run or a step
// is one event.
const (
	EventAgentRegistered    = "agent.registered"
	EventAgentUpdated       = "agent.updated"
	EventAgentDeleted       = "agent.deleted"
	EventAgentHealthChanged = "agent.health_changed"
	EventWorkflowCreated    = "workflow.created"
	EventWorkflowUpdated    = "workflow.updated"
	EventWorkflowDeleted    = "workflow.deleted"
	EventRunQueued          = "run.queued"
	EventRunStarted         = "run.started"
	EventRunSucceeded       = "run.succeeded"
	EventRunFailed          = "run.failed"
	EventRunCancelled       = "run.cancelled"
	EventRunTimedOut        = "run.timed_out"
	EventStepStarted        = "step.started"
	EventStepRetrying       = "step.retrying"
	EventStepSucceeded      = "step.succeeded"
	EventStepFailed         = "step.failed"
	EventStepSkipped        = "step.skipped"
	EventStepCancelled      = "step.cancelled"
)

// Event is one state change. Events form one stream whose IDs increase by
// one with no gap, in the order their changes were committed; a client that
// remembers the last ID it saw can ask for everything after it.
type Event struct {
	ID   int64           `json:"id"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
	// Agent and RunID say what the event concerns, for channels to match:
	// the agent's name (for step events, the agent the step called) and
	// the run's ID. Both are also in Data.
	Agent string `json:"-"`
	RunID string `json:"-"`
	// Namespace is the namespace of what the event concerns; only callers
	// who may see that namespace receive the event.
	Namespace string `json:"namespace,omitempty"`
}

// Stream is the part of the platform an event belongs to: "agent",
// "workflow" or "run" (runs and their steps).
func (e *Event) Stream() string {
	// The known prefixes first: every live subscriber asks this of every
	// event.
	switch t := e.Type; {
	case strings.HasPrefix(t, "agent."):
		return "agent"
	case strings.HasPrefix(t, "run."), strings.HasPrefix(t, "step."):
		return "run"
	case strings.HasPrefix(t, "workflow."):
		return "workflow"
	}
	s, _, _ := strings.Cut(e.Type, ".")
	return s
}

// Terminal reports whether e ends its run.
func (e *Event) Terminal() bool {
	switch e.Type {
	case EventRunSucceeded, EventRunFailed, EventRunCancelled, EventRunTimedOut:
		return true
	}
	return false
}

// Channel selects events. Its forms are "*" (every event), "agent-events",
// "workflow-events", "run-events" (runs and steps), "run:<id>" (one run and
// its steps) and "agent:<name>" (one agent and the steps it runs).
type Channel struct {
	// Stream is "agent", "workflow", "run", or "" for every stream.
	Stream string
	// RunID or Agent narrow the channel to one run or one agent.
	RunID string
	Agent string
	name  string
}

// ParseChannel reads a channel's name; an unknown one is EINVALID.
func ParseChannel(s string) (Channel, error) {
	c := Channel{name: s}
	switch {
	case s == "*":
	case s == "agent-events":
		c.Stream = "agent"
	case s == "workflow-events":
		c.Stream = "workflow"
	case s == "run-events":
		c.Stream = "run"
	case strings.HasPrefix(s, "run:"):
		c.RunID = strings.ToLower(s[len("run:"):])
		if !LooksLikeID(c.RunID) {
			return Channel{}, Errorf(EINVALID, "channel %q: a run channel is run:<run id>", s)
		}
	case strings.HasPrefix(s, "agent:") && len(s) > len("agent:"):
		c.Agent = s[len("agent:"):]
	default:
		return Channel{}, Errorf(EINVALID, "unknown channel %q: want *, agent-events, workflow-events, run-events, run:<id> or agent:<name>", s)
	}
	if len(s) > 300 {
		return Channel{}, Errorf(EINVALID, "channel name is longer than 300 bytes")
	}
	return c, nil
}

// ParseChannels reads a comma-separated list of channels; empty means "*".
func ParseChannels(list string) ([]Channel, error) {
	if strings.TrimSpace(list) == "" {
		return []Channel{{name: "*"}}, nil
	}
	var out []Channel
	for _, s := range strings.Split(list, ",") {
		c, err := ParseChannel(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// String is the channel's name.
func (c Channel) String() string { return c.name }

// All reports whether the channel is "*", every event.
func (c Channel) All() bool { return c.Stream == "" && c.RunID == "" && c.Agent == "" }

// Match reports whether e belongs on the channel.
func (c Channel) Match(e *Event) bool {
	switch {
	case c.RunID != "":
		return e.RunID == c.RunID
	case c.Agent != "":
		return e.Agent == c.Agent
	case c.Stream != "":
		return e.Stream() == c.Stream
	}
	return true
}

// MatchAny reports whether e belongs on one of the channels; every event
// does when there is none, as in EventQuery.
func MatchAny(cs []Channel, e *Event) bool {
	if len(cs) == 0 {
		return true
	}
	for _, c := range cs {
		if c.Match(e) {
			return true
		}
	}
	return false
}

// EventQuery selects stored events: those after an ID that match any of
// the channels (every event when there is none), oldest first.
type EventQuery struct {
	After    int64
	Channels []Channel
	// Namespaces limits the events to those of these namespaces; every
	// namespace when empty.
	Namespaces []string
	// Limit caps the events returned; DefaultEventBatch when 0.
	Limit int
}

// DefaultEventBatch is the most events one query returns unless told.
const DefaultEventBatch = 1000

// EventStore is the stored side of events. A store writes each event in
// the transaction of the change it describes (an outbox); SequenceEvents
// then gives the written events their place in the stream.
type EventStore interface {
	// SequenceEvents gives IDs, in the order they were written, to up to
	// DefaultEventBatch events written since the last call by any process
	// sharing the database, and returns them. Concurrent calls take turns,
	// so IDs follow commit order with no gap.
	SequenceEvents(ctx context.Context) ([]Event, error)
	// ListEvents returns sequenced events that q selects.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	// LastEventID is the ID of the newest sequenced event, 0 when none has
	// been.
	LastEventID(ctx context.Context) (int64, error)
	// PruneEvents deletes sequenced events older than before and returns
	// how many it deleted. IDs are never given out again.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

// EventBus carries sequenced events live between the gateway replicas.
// Delivery is best effort: a subscriber that misses events fills the gap
// from the EventStore. Nor is it trusted: anything that can write to the
// bus can put a batch on it, so a subscriber takes a batch only as word
// that the events up to its IDs exist, and reads them from the EventStore.
type EventBus interface {
	// Publish sends events, in order, to every subscriber.
	Publish(ctx context.Context, events []Event) error
	// Subscribe calls fn with each batch published while it is subscribed,
	// in publishing order, one call at a time, until ctx ends; then it
	// returns nil. fn is called with nil each time the subscription becomes
	// live: first, and again after each break in delivery (the bus's
	// server went away and came back), when batches may have been missed.
	// Subscribe keeps trying to (re)subscribe while the server is away.
	Subscribe(ctx context.Context, fn func([]Event)) error
}

// NewEvent returns an unsequenced event of type typ whose data is v as
// JSON.
func NewEvent(typ string, at time.Time, v any) Event {
	data, err := json.Marshal(v)
	if err != nil {
		panic("event data: " + err.Error()) // every caller passes plain structs
	}
	return Event{Type: typ, Time: at.UTC().Truncate(time.Microsecond), Data: data}
}

// AgentEventData is the data of agent events: the agent without its
// manifest and metadata.
type AgentEventData struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	Namespace    string      `json:"namespace"`
	Type         AgentType   `json:"type,omitempty"`
	Version      string      `json:"version,omitempty"`
	Status       AgentStatus `json:"status,omitempty"`
	Capabilities []string    `json:"capabilities,omitempty"`
	Endpoint     string      `json:"endpoint,omitempty"`
	Health       AgentHealth `json:"health"`
	// PreviousHealth is the health before an agent.health_changed.
	PreviousHealth HealthStatus `json:"previous_health,omitempty"`
}

// AgentEvent is the event of an agent's change.
func AgentEvent(typ string, a *Agent, at time.Time) Event {
	e := NewEvent(typ, at, AgentEventData{ID: a.ID, Name: a.Name, Namespace: a.Namespace, Type: a.Type,
		Version: a.Version, Status: a.Status, Capabilities: a.Capabilities, Endpoint: a.Endpoint, Health: a.Health})
	e.Agent, e.Namespace = a.Name, a.Namespace
	return e
}

// HealthEvent is agent.health_changed for an agent whose health went from
// previous to a.Health.
func HealthEvent(a *Agent, previous HealthStatus, at time.Time) Event {
	e := NewEvent(EventAgentHealthChanged, at, AgentEventData{ID: a.ID, Name: a.Name, Namespace: a.Namespace,
		Health: a.Health, PreviousHealth: previous})
	e.Agent, e.Namespace = a.Name, a.Namespace
	return e
}

// WorkflowEventData is the data of workflow events.
type WorkflowEventData struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   string `json:"version,omitempty"`
	// Revision is the workflow's revision after a workflow.created or
	// workflow.updated.
	Revision int `json:"revision,omitempty"`
}

// WorkflowEvent is the event of a workflow's change.
func WorkflowEvent(typ string, w *Workflow, at time.Time) Event {
	e := NewEvent(typ, at, WorkflowEventData{ID: w.ID, Name: w.Name, Namespace: w.Namespace, Version: w.Version,
		Revision: w.Revision})
	e.Namespace = w.Namespace
	return e
}

// RunEventData is the data of run events. Outputs are not in events,
// which stay small: GET /api/v1/runs/{id} has them.
type RunEventData struct {
	RunID    string `json:"run_id"`
	Workflow string `json:"workflow,omitempty"`
	// WorkflowID is the stored workflow's ID; left out for a run of an
	// inline workflow, which was never stored.
	WorkflowID string    `json:"workflow_id,omitempty"`
	Status     RunStatus `json:"status"`
	Error      string    `json:"error,omitempty"`
	// QueueWait is how long the run waited, from its creation to its start,
	// in milliseconds; only on run.started.
	QueueWait *float64 `json:"queued_ms,omitempty"`
	// Duration is from the run's start to its end, in milliseconds; only
	// on the terminal event of a run that started.
	Duration *float64 `json:"duration_ms,omitempty"`
}

// RunEvent is the event of run r reaching status at the given time:
// run.queued, run.started or the terminal event. Of r it takes the ID,
// the namespace, the workflow's name and ID, and the creation (for
// run.started) or start (for the terminal event) time it reports durations
// from.
func RunEvent(r *Run, status RunStatus, msg string, at time.Time) Event {
	typ := "run." + string(status)
	if status == RunRunning {
		typ = EventRunStarted
	}
	d := RunEventData{RunID: r.ID, Workflow: r.Workflow, WorkflowID: r.WorkflowID, Status: status, Error: msg}
	switch {
	case status == RunRunning && !r.CreatedAt.IsZero():
		d.QueueWait = millis(at.Sub(r.CreatedAt))
	case status.Terminal() && r.StartedAt != nil:
		d.Duration = millis(at.Sub(*r.StartedAt))
	}
	e := NewEvent(typ, at, d)
	e.RunID, e.Namespace = r.ID, r.Namespace
	return e
}

// millis is d in milliseconds, to the microsecond, and never negative:
// the times it is taken between may come from replicas whose clocks
// differ a little.
func millis(d time.Duration) *float64 {
	ms := float64(max(d, 0).Microseconds()) / 1000
	return &ms
}

// StepEventData is the data of step events.
type StepEventData struct {
	RunID string `json:"run_id"`
	// Workflow and WorkflowID are the run's, as in RunEventData.
	Workflow   string     `json:"workflow,omitempty"`
	WorkflowID string     `json:"workflow_id,omitempty"`
	Step       string     `json:"step"`
	Status     StepStatus `json:"status"`
	Agent      string     `json:"agent,omitempty"`
	Attempt    int        `json:"attempt"`
	// Choice is why discovery picked Agent, for a query step.
	Choice   *StepChoice `json:"choice,omitempty"`
	Error    string      `json:"error,omitempty"`
	Duration *float64    `json:"duration_ms,omitempty"`
}

// StepEvent is the event of a step's saved state: step.started for a
// running step (each attempt), step.retrying, and the step's end. Of r it
// takes the ID, the namespace and the workflow's name and ID.
func StepEvent(r *Run, s *StepRun, at time.Time) Event {
	typ := "step." + string(s.Status)
	if s.Status == StepRunning {
		typ = EventStepStarted
	}
	d := StepEventData{RunID: r.ID, Workflow: r.Workflow, WorkflowID: r.WorkflowID, Step: s.ID, Status: s.Status,
		Agent: s.Agent, Attempt: s.Attempts, Choice: s.Choice, Error: s.Error}
	if s.StartedAt != nil && s.FinishedAt != nil {
		d.Duration = millis(s.FinishedAt.Sub(*s.StartedAt))
	}
	e := NewEvent(typ, at, d)
	e.RunID, e.Agent, e.Namespace = r.ID, s.Agent, r.Namespace
	return e
}
