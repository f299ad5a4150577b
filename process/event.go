package process

import (
	"fmt"
	"time"
)

// State is where a Process is in its life.
type State string

// States: starting → running → (crashed → restarting → running)* →
// stopped | failed.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateCrashed    State = "crashed"
	StateRestarting State = "restarting"
	StateStopped    State = "stopped"
	StateFailed     State = "failed"
)

// Final reports whether no state follows s.
func (s State) Final() bool { return s == StateStopped || s == StateFailed }

// Event types.
const (
	// EventState is a change of state; Reason says why for crashed and
	// failed.
	EventState = "state"
	// EventExit is an exit of the process, expected or not.
	EventExit = "exit"
	// EventRestart is a restart being scheduled after Backoff.
	EventRestart = "restart"
)

// Event is one state change, exit or restart of a Process.
type Event struct {
	Type  string    `json:"type"`
	Time  time.Time `json:"time"`
	Name  string    `json:"name"`
	State State     `json:"state"`
	PID   int       `json:"pid,omitempty"`
	Port  int       `json:"port,omitempty"`
	// Restarts is the number of restarts in a row so far.
	Restarts int `json:"restarts"`
	// Exit is set for EventExit.
	Exit *Exit `json:"exit,omitempty"`
	// Backoff is the wait before the restart, for EventRestart.
	Backoff time.Duration `json:"backoff,omitempty"`
	Reason  string        `json:"reason,omitempty"`
}

// Exit says how a process ended.
type Exit struct {
	// Code is the exit status, or -1 when a signal ended the process.
	Code int `json:"code"`
	// Signal names the signal that ended it, if one did.
	Signal string `json:"signal,omitempty"`
	// Expected is true when the driver asked for the exit (Stop or a
	// failed start).
	Expected bool `json:"expected"`
}

// String is "status 1" or "signal killed".
func (e Exit) String() string {
	if e.Signal != "" {
		return "signal " + e.Signal
	}
	return fmt.Sprintf("status %d", e.Code)
}
