package platform

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Agent protocols: how the gateway calls an agent.
const (
	ProtocolHTTP = "http"
	ProtocolA2A  = "a2a"
)

// Protocols lists every protocol an agent may speak.
var Protocols = []string{ProtocolHTTP, ProtocolA2A}

// HealthStatus is what the gateway last saw of an agent.
type HealthStatus string

// Health statuses.
const (
	HealthUnknown   HealthStatus = "unknown"
	HealthHealthy   HealthStatus = "healthy"
	HealthUnhealthy HealthStatus = "unhealthy"
)

// AgentHealth is an agent's health as probes and calls found it.
type AgentHealth struct {
	Status HealthStatus `json:"status"`
	// Reason says what failed, for an unhealthy agent.
	Reason    string     `json:"reason,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
}

// Invocation is one call of an agent for one attempt of one step, or for
// one direct execute request.
type Invocation struct {
	TaskID     string
	RunID      string
	Step       string
	Capability string
	Input      json.RawMessage
	// Context carries the run's variables and workflow name to the agent.
	Context map[string]any
	// IdempotencyKey is the same for every attempt of one step of one run.
	IdempotencyKey string
	RequestID      string
	// TraceParent is a W3C traceparent header value.
	TraceParent string
}

// AgentInvoker calls agents over their protocol.
type AgentInvoker interface {
	// Invoke calls the agent and returns its output. Errors are
	// *InvocationError.
	Invoke(ctx context.Context, a *Agent, inv *Invocation) (json.RawMessage, error)
	// Probe checks the agent's health endpoint; nil means healthy.
	Probe(ctx context.Context, a *Agent) error
}

// InvocationError is a failed agent call. Retryable failures (5xx,
// timeouts, connection errors) may succeed on another attempt; the others
// (4xx, an answer that is not JSON or is too large) will not.
type InvocationError struct {
	Retryable bool
	// StatusCode is the agent's HTTP status, 0 when it did not answer.
	StatusCode int
	Message    string
}

func (e *InvocationError) Error() string { return e.Message }

// IsRetryable reports whether err is a retryable *InvocationError.
func IsRetryable(err error) bool {
	var ie *InvocationError
	return errors.As(err, &ie) && ie.Retryable
}
