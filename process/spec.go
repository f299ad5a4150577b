package process

import (
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

// Defaults of a Spec, filled by WithDefaults.
const (
	DefaultHealthPath     = "/health"
	DefaultStartTimeout   = 30 * time.Second
	DefaultGrace          = 10 * time.Second
	DefaultHealthInterval = 50 * time.Millisecond
	DefaultMaxRestarts    = 5
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultLogLines       = 1000
)

// Spec says what to run and how to supervise it.
type Spec struct {
	// Name names the process in events and errors (usually the agent's name).
	Name string
	// Command is the program and its arguments; Command[0] is looked up in
	// PATH when it has no slash.
	Command []string
	// Env is added to the child's environment. The child does not inherit
	// the driver's environment, only PATH, HOME, USER, LANG, LC_ALL, TZ and
	// TMPDIR, so the driver's secrets stay out of it. PORT and HOST are
	// always the driver's and override Env.
	Env map[string]string
	// Dir is the working directory; empty means the driver's.
	Dir string
	// HealthPath is polled until it answers 200 (default "/health").
	HealthPath string
	// HealthInterval is the time between two polls (default 50ms).
	HealthInterval time.Duration
	// StartTimeout bounds the wait for the first healthy answer of every
	// start and restart (default 30s).
	StartTimeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL on Stop (default 10s).
	Grace time.Duration
	// Restart is the policy for unexpected exits.
	Restart Restart
	// Limits are applied to the child where the OS allows it.
	Limits Limits
	// LogLines is how many lines of output the Log keeps (default 1000).
	LogLines int
}

// Restart is the restart policy of a Spec.
type Restart struct {
	// MaxRestarts is how many restarts in a row are tried before the
	// process fails (default 5; negative means never restart). A process that
	// ran healthy for longer than MaxBackoff starts counting again from zero.
	MaxRestarts int
	// InitialBackoff is the wait before the first restart (default 500ms);
	// every further restart in a row waits twice as long as the one before.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait (default 30s).
	MaxBackoff time.Duration
}

// Limits are resource limits; zero means no limit is set. Both the soft and
// the hard limit are set, so the child cannot raise them again (Go programs
// raise their soft open-files limit to the hard one at start).
type Limits struct {
	// MemoryBytes limits the address space (RLIMIT_AS).
	MemoryBytes uint64
	// CPUSeconds limits CPU time (RLIMIT_CPU): past it the kernel kills
	// the process with SIGKILL (after SIGXCPU).
	CPUSeconds uint64
	// OpenFiles limits open file descriptors (RLIMIT_NOFILE).
	OpenFiles uint64
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// WithDefaults returns s with every zero field set to its default.
func (s Spec) WithDefaults() Spec {
	if s.HealthPath == "" {
		s.HealthPath = DefaultHealthPath
	}
	if s.HealthInterval == 0 {
		s.HealthInterval = DefaultHealthInterval
	}
	if s.StartTimeout == 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	if s.Restart.MaxRestarts == 0 {
		s.Restart.MaxRestarts = DefaultMaxRestarts
	}
	if s.Restart.InitialBackoff == 0 {
		s.Restart.InitialBackoff = DefaultInitialBackoff
	}
	if s.Restart.MaxBackoff == 0 {
		s.Restart.MaxBackoff = DefaultMaxBackoff
	}
	if s.LogLines == 0 {
		s.LogLines = DefaultLogLines
	}
	return s
}

// Validate rejects a Spec that cannot run, naming every bad field.
func (s Spec) Validate() error {
	var p platform.Problems
	if len(s.Command) == 0 || s.Command[0] == "" {
		p.Add("command", "is required")
	}
	if !strings.HasPrefix(s.HealthPath, "/") {
		p.Add("health_path", "must start with /")
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			p.Add("env", "a variable name is empty or has = or NUL in it")
			break
		}
	}
	if s.HealthInterval < 0 || s.StartTimeout < 0 || s.Grace < 0 ||
		s.Restart.InitialBackoff < 0 || s.Restart.MaxBackoff < 0 {
		p.Add("duration", "must not be negative")
	}
	if s.Restart.MaxBackoff > 0 && s.Restart.InitialBackoff > s.Restart.MaxBackoff {
		p.Add("restart.initial_backoff", "must not exceed restart.max_backoff")
	}
	if s.LogLines < 0 {
		p.Add("log_lines", "must not be negative")
	}
	return p.Err("invalid process spec")
}

// backoff is the wait before restart number n (from 1).
func (r Restart) backoff(n int) time.Duration {
	d := r.InitialBackoff
	for i := 1; i < n && d < r.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.MaxBackoff)
}
