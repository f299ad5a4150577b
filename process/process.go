//go:build unix

package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// inherited are the only variables of the driver's environment a child
// gets; the rest (database URLs, keys) stays with the driver.
var inherited = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Driver starts and supervises processes. The zero Driver works.
type Driver struct {
	// OnEvent, when set, receives every Event, in order per Process, from
	// the goroutine that supervises it: it should return quickly.
	OnEvent func(Event)
}

// Process is one supervised command, across its restarts.
type Process struct {
	spec    Spec
	onEvent func(Event)
	log     *Log
	client  *http.Client

	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when the process is stopped or failed

	mu       sync.Mutex
	state    State
	reason   string
	pid      int
	cur      *instance
	port     int
	restarts int
	last     *Exit
}

// instance is one run of the command.
type instance struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed once the group is gone and the leader reaped
	exit   Exit

	mu   sync.Mutex
	gone bool // the leader exited: its group must not be signalled again
}

// signal sends sig to the instance's group unless its leader has exited
// (and may be reaped, its pid free for reuse).
func (inst *instance) signal(sig syscall.Signal) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if !inst.gone {
		_ = signalGroup(inst.pid, sig)
	}
}

func (inst *instance) hasExited() bool {
	select {
	case <-inst.exited:
		return true
	default:
		return false
	}
}

// reap waits for the leader's exit, kills what is left of its group and
// reaps it.
func (inst *instance) reap(flush func()) {
	leaderGone := func() {
		inst.mu.Lock()
		defer inst.mu.Unlock()
		if !inst.gone {
			inst.gone = true
			// Whatever the leader left in its group goes with it, so
			// nothing is orphaned and a restart is clean.
			_ = signalGroup(inst.pid, syscall.SIGKILL)
		}
	}
	waitExited(inst.pid)
	if canWaitUnreaped {
		leaderGone()
	}
	_ = inst.cmd.Wait() // the exit status is in ProcessState
	if !canWaitUnreaped {
		leaderGone()
	}
	flush()
	inst.exit = exitOf(inst.cmd.ProcessState)
	close(inst.exited)
}

// Start starts spec's command and returns once it answers its health check
// with 200, in state running; the process then lives until Stop or until it
// fails, not until ctx ends. When the first start fails (the command cannot
// start, exits or does not become healthy within StartTimeout, or ctx
// ends) its process group is killed and the error says what the process
// printed last.
func (d *Driver) Start(ctx context.Context, spec Spec) (*Process, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := &Process{
		spec:    spec,
		onEvent: d.OnEvent,
		log:     NewLog(spec.LogLines),
		client:  &http.Client{Timeout: max(spec.HealthInterval, time.Second)},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		state:   StateStarting,
	}
	p.emit(Event{Type: EventState, State: StateStarting})
	first := make(chan error, 1)
	go p.supervise(ctx, first)
	if err := <-first; err != nil {
		<-p.done
		return nil, err
	}
	return p, nil
}

// supervise runs the command, and runs it again after unexpected exits,
// until Stop or the restart limit. It sends the outcome of the first start
// on first.
func (p *Process) supervise(startCtx context.Context, first chan<- error) {
	defer close(p.done)
	defer p.log.close()
	s := p.spec
	for {
		inst, err := p.launch()
		if err == nil {
			hctx := context.Background()
			if first != nil {
				hctx = startCtx
			}
			err = p.awaitHealthy(hctx, inst)
		}
		if errors.Is(err, errStopped) {
			p.terminate(inst)
			p.setState(StateStopped, "")
			return
		}
		var crash string
		if err == nil {
			p.setState(StateRunning, "")
			if first != nil {
				first <- nil
				first = nil
			}
			healthySince := time.Now()
			select {
			case <-inst.exited:
			case <-p.stop:
				p.terminate(inst)
				p.setState(StateStopped, "")
				return
			}
			if time.Since(healthySince) > s.Restart.MaxBackoff {
				p.mu.Lock()
				p.restarts = 0
				p.mu.Unlock()
			}
			crash = "exited with " + inst.exit.String()
			p.exitEvent(inst, false)
		} else {
			if inst != nil {
				// An instance that exited by itself did so unasked; one
				// that is killed here failed its start.
				expected := !inst.hasExited()
				p.kill(inst)
				p.exitEvent(inst, expected)
			}
			crash = err.Error()
			if first != nil {
				err := fmt.Errorf("process: start %q: %w%s", s.Name, err, p.lastOutput())
				first <- err
				p.setState(StateFailed, err.Error())
				return
			}
		}
		p.setState(StateCrashed, crash)
		p.mu.Lock()
		n := p.restarts
		p.mu.Unlock()
		if n >= s.Restart.MaxRestarts {
			reason := fmt.Sprintf("gave up after %d failures in a row, the last: %s%s", n+1, crash, p.lastOutput())
			if s.Restart.MaxRestarts < 0 {
				reason = fmt.Sprintf("%s (restarts are off)%s", crash, p.lastOutput())
			}
			p.setState(StateFailed, reason)
			return
		}
		p.mu.Lock()
		p.restarts++
		n = p.restarts
		p.mu.Unlock()
		wait := s.Restart.backoff(n)
		p.emit(Event{Type: EventRestart, State: StateCrashed, Backoff: wait, Reason: crash})
		p.setState(StateRestarting, "")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.stop:
			t.Stop()
			p.setState(StateStopped, "")
			return
		}
	}
}

var errStopped = errors.New("stopped")

// launch starts one instance on a free port.
func (p *Process) launch() (*instance, error) {
	s := p.spec
	port, err := p.pickPort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Command[0], s.Command[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = environ(s.Env, port)
	cmd.SysProcAttr = sysProcAttr()
	out := &lineWriter{log: p.log, stream: Stdout}
	errw := &lineWriter{log: p.log, stream: Stderr}
	cmd.Stdout, cmd.Stderr = out, errw
	// A process that escaped the group (setsid) and holds a pipe must not
	// block the driver forever.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", s.Command[0], err)
	}
	inst := &instance{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	p.mu.Lock()
	p.pid, p.port, p.cur = inst.pid, port, inst
	p.mu.Unlock()
	go inst.reap(func() { out.flush(); errw.flush() })
	if err := applyLimits(inst.pid, s.Limits); err != nil {
		return inst, fmt.Errorf("apply limits: %w", err)
	}
	return inst, nil
}

// pickPort keeps the port of the previous instance when it is still free,
// so the agent's address survives restarts, and otherwise asks the kernel
// for one. Another program can take the port between this check and the
// child's bind; the child then fails its start and is restarted.
func (p *Process) pickPort() (int, error) {
	p.mu.Lock()
	prev := p.port
	p.mu.Unlock()
	if prev != 0 {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(prev))); err == nil {
			_ = l.Close()
			return prev, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("allocate a loopback port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port, nil
}

// awaitHealthy polls the health path until it answers 200. It fails when
// the instance exits, StartTimeout passes or ctx ends, and returns
// errStopped on Stop.
func (p *Process) awaitHealthy(ctx context.Context, inst *instance) error {
	s := p.spec
	p.mu.Lock()
	url := fmt.Sprintf("http://127.0.0.1:%d%s", p.port, s.HealthPath)
	p.mu.Unlock()
	deadline := time.NewTimer(s.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(s.HealthInterval)
	defer tick.Stop()
	for {
		if p.healthy(url) {
			return nil
		}
		select {
		case <-tick.C:
		case <-inst.exited:
			return fmt.Errorf("exited with %s before GET %s answered 200", inst.exit, url)
		case <-deadline.C:
			return fmt.Errorf("GET %s did not answer 200 within %s", url, s.StartTimeout)
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %w", url, ctx.Err())
		case <-p.stop:
			return errStopped
		}
	}
}

func (p *Process) healthy(url string) bool {
	resp, err := p.client.Get(url)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// terminate sends SIGTERM to the group, SIGKILL after Grace, and waits for
// the exit.
func (p *Process) terminate(inst *instance) {
	if inst == nil {
		return
	}
	inst.signal(syscall.SIGTERM)
	t := time.NewTimer(p.spec.Grace)
	defer t.Stop()
	select {
	case <-inst.exited:
	case <-t.C:
		p.kill(inst)
	}
	p.exitEvent(inst, true)
}

// kill sends SIGKILL to the group and waits for the exit.
func (p *Process) kill(inst *instance) {
	inst.signal(syscall.SIGKILL)
	<-inst.exited
}

func (p *Process) exitEvent(inst *instance, expected bool) {
	inst.exit.Expected = expected
	e := inst.exit
	p.mu.Lock()
	p.last = &e
	st := p.state
	p.mu.Unlock()
	p.emit(Event{Type: EventExit, State: st, PID: inst.pid, Exit: &e})
}

func (p *Process) setState(st State, reason string) {
	p.mu.Lock()
	p.state, p.reason = st, reason
	p.mu.Unlock()
	p.emit(Event{Type: EventState, State: st, Reason: reason})
}

// emit fills what every event carries and hands it to OnEvent.
func (p *Process) emit(e Event) {
	if p.onEvent == nil {
		return
	}
	p.mu.Lock()
	e.Time = time.Now().UTC()
	e.Name = p.spec.Name
	if e.PID == 0 {
		e.PID = p.pid
	}
	e.Port = p.port
	e.Restarts = p.restarts
	p.mu.Unlock()
	p.onEvent(e)
}

// lastOutput is "; last output: ..." or "".
func (p *Process) lastOutput() string {
	if last := p.log.Last(); last != "" {
		return fmt.Sprintf("; last output: %q", last)
	}
	return "; it printed nothing"
}

// Stop ends the process: SIGTERM to its group, SIGKILL after the grace
// period, no restart afterwards. It returns once the process is stopped
// (or failed before), or with ctx's error when ctx ends first, after
// sending SIGKILL to the group.
func (p *Process) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() { close(p.stop) })
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		inst := p.cur
		p.mu.Unlock()
		if inst != nil {
			inst.signal(syscall.SIGKILL)
		}
		<-p.done
		return fmt.Errorf("process: stop %q: %w", p.spec.Name, ctx.Err())
	}
}

// Done is closed when the process is stopped or failed.
func (p *Process) Done() <-chan struct{} { return p.done }

// State returns the state and, for crashed and failed, why.
func (p *Process) State() (State, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.reason
}

// PID is the process ID of the current (or last) instance.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// PGID is the process group of the current instance: the value to record
// for KillGroup after a restart of the driver. It equals PID.
func (p *Process) PGID() int { return p.PID() }

// Port is the loopback port the process listens on (its PORT).
func (p *Process) Port() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.port
}

// Restarts is the number of restarts in a row so far.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// LastExit says how the last instance ended, or nil.
func (p *Process) LastExit() *Exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		return nil
	}
	e := *p.last
	return &e
}

// Log is the process's output, across restarts.
func (p *Process) Log() *Log { return p.log }

// Spec is the spec the process runs, with defaults filled.
func (p *Process) Spec() Spec { return p.spec }

func environ(extra map[string]string, port int) []string {
	env := make([]string, 0, len(inherited)+len(extra)+2)
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		if k != "PORT" && k != "HOST" {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "PORT="+strconv.Itoa(port), "HOST=127.0.0.1")
}

func exitOf(ps *os.ProcessState) Exit {
	if ps == nil {
		return Exit{Code: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Exit{Code: -1, Signal: ws.Signal().String()}
	}
	return Exit{Code: ps.ExitCode()}
}
