//go:build linux

package process_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ossa-platform/platform/process"
)

// agentBin is the test agent (testdata/agent), built once by TestMain
// without -race: the race runtime's address space would not fit a memory
// limit.
var agentBin string

func TestMain(m *testing.M) {
	if os.Getenv("PROCESS_TEST_HELPER") == "driver" {
		helperDriver()
		return
	}
	dir, err := os.MkdirTemp("", "process-agent-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "agent")
	build := exec.Command("go", "build", "-o", agentBin, "./testdata/agent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the test agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// recorder keeps the events of one process.
type recorder struct {
	mu     sync.Mutex
	events []process.Event
}

func (r *recorder) add(e process.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []process.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]process.Event(nil), r.events...)
}

func (r *recorder) states() []process.State {
	var out []process.State
	for _, e := range r.all() {
		if e.Type == process.EventState {
			out = append(out, e.State)
		}
	}
	return out
}

func spec(env map[string]string) process.Spec {
	return process.Spec{
		Name:           "agent",
		Command:        []string{agentBin},
		Env:            env,
		HealthInterval: 5 * time.Millisecond,
		StartTimeout:   3 * time.Second,
		Grace:          2 * time.Second,
		Restart:        process.Restart{MaxRestarts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond},
	}
}

func start(t *testing.T, s process.Spec) (*process.Process, *recorder) {
	t.Helper()
	rec := &recorder{}
	d := &process.Driver{OnEvent: rec.add}
	p, err := d.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p, rec
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func eventually(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitLine(t *testing.T, l *process.Log, prefix string) process.Line {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	after := 0
	for {
		lines, next, err := l.Follow(ctx, after)
		if err != nil {
			t.Fatalf("no line starting with %q: %v", prefix, err)
		}
		for _, ln := range lines {
			if strings.HasPrefix(ln.Text, prefix) {
				return ln
			}
		}
		if len(lines) == 0 && l.Closed() {
			t.Fatalf("log closed without a line starting with %q", prefix)
		}
		after = next
	}
}

func TestStartRunningAndHealth(t *testing.T) {
	t.Parallel()
	p, rec := start(t, spec(nil))
	if st, _ := p.State(); st != process.StateRunning {
		t.Fatalf("state = %s, want running", st)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", p.Port()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if got, want := string(body), fmt.Sprintf("ok %d", p.PID()); got != want {
		t.Fatalf("health = %q, want %q", got, want)
	}
	if p.PGID() != p.PID() {
		t.Fatalf("pgid %d != pid %d", p.PGID(), p.PID())
	}
	pgid, err := syscall.Getpgid(p.PID())
	if err != nil || pgid != p.PID() {
		t.Fatalf("getpgid = %d, %v; want its own group %d", pgid, err, p.PID())
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(rec.states())
	if want := "[starting running stopped]"; got != want {
		t.Fatalf("states = %s, want %s", got, want)
	}
	exits := 0
	for _, e := range rec.all() {
		if e.Type == process.EventExit {
			exits++
			if !e.Exit.Expected || e.Exit.Code != 0 {
				t.Fatalf("exit = %+v, want expected status 0 (it handles SIGTERM)", *e.Exit)
			}
		}
	}
	if exits != 1 {
		t.Fatalf("%d exit events, want 1", exits)
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("PROCESS_TEST_SECRET", "s3cret")
	p, _ := start(t, spec(map[string]string{"PORT": "1", "GREETING": "hi"}))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(b), "\x00")
	has := func(kv string) bool {
		for _, e := range env {
			if e == kv {
				return true
			}
		}
		return false
	}
	for _, kv := range []string{"PORT=" + strconv.Itoa(p.Port()), "HOST=127.0.0.1", "GREETING=hi"} {
		if !has(kv) {
			t.Errorf("env lacks %s: %q", kv, env)
		}
	}
	if has("PORT=1") || has("PROCESS_TEST_SECRET=s3cret") {
		t.Errorf("env has what it must not: %q", env)
	}
}

func TestLogsCapturedAndFollowed(t *testing.T) {
	t.Parallel()
	p, _ := start(t, spec(map[string]string{
		"AGENT_PRINT": "hello|world", "AGENT_PRINT_ERR": "oops", "AGENT_TICK_MS": "10",
	}))
	l := p.Log()
	waitLine(t, l, "tick 3")
	lines, next := l.Lines(0)
	var out, errs []string
	for i, ln := range lines {
		if ln.Seq != i+1 {
			t.Fatalf("line %d has seq %d", i, ln.Seq)
		}
		if ln.Time.IsZero() {
			t.Fatalf("line %d has no time", i)
		}
		switch ln.Stream {
		case process.Stdout:
			out = append(out, ln.Text)
		case process.Stderr:
			errs = append(errs, ln.Text)
		}
	}
	if len(out) < 5 || out[0] != "hello" || out[1] != "world" || out[2] != "tick 1" {
		t.Fatalf("stdout = %q", out)
	}
	if fmt.Sprint(errs) != "[oops]" {
		t.Fatalf("stderr = %q", errs)
	}
	// Following from next gives only new lines.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	more, _, err := l.Follow(ctx, next)
	if err != nil || len(more) == 0 || more[0].Seq != next+1 || !strings.HasPrefix(more[0].Text, "tick ") {
		t.Fatalf("Follow(%d) = %v, %v", next, more, err)
	}
	// A follower ends when the process stops.
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := next
	for {
		got, n, err := l.Follow(ctx, after)
		if err != nil {
			t.Fatalf("Follow after Stop: %v", err)
		}
		if len(got) == 0 {
			break
		}
		after = n
	}
	if last := l.Last(); last != "terminating" {
		t.Fatalf("last line = %q, want terminating", last)
	}
}

func TestCrashRestartsThenGivesUp(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	d := &process.Driver{OnEvent: rec.add}
	s := spec(map[string]string{"AGENT_CRASH_MS": "20", "AGENT_EXIT_CODE": "7", "AGENT_PRINT": "about to fail"})
	// A MaxBackoff longer than a run keeps the count from resetting.
	s.Restart.MaxBackoff = time.Second
	began := time.Now()
	p, err := d.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("never gave up")
	}
	elapsed := time.Since(began)
	st, reason := p.State()
	if st != process.StateFailed {
		t.Fatalf("state = %s", st)
	}
	if want := `gave up after 4 failures in a row, the last: exited with status 7; last output: "crashing"`; reason != want {
		t.Fatalf("reason = %q, want %q", reason, want)
	}
	var backoffs []time.Duration
	exits := 0
	for _, e := range rec.all() {
		switch e.Type {
		case process.EventRestart:
			backoffs = append(backoffs, e.Backoff)
		case process.EventExit:
			exits++
			if e.Exit.Code != 7 || e.Exit.Expected {
				t.Fatalf("exit = %+v", *e.Exit)
			}
		}
	}
	if got, want := fmt.Sprint(backoffs), "[10ms 20ms 40ms]"; got != want {
		t.Fatalf("backoffs = %s, want %s", got, want)
	}
	if exits != 4 {
		t.Fatalf("%d exits, want 4", exits)
	}
	// 4 runs of 20ms plus 70ms of backoff at least.
	if elapsed < 150*time.Millisecond {
		t.Fatalf("gave up after %s: backoff not waited", elapsed)
	}
	got := fmt.Sprint(rec.states())
	want := "[starting running crashed restarting running crashed restarting running crashed restarting running crashed failed]"
	if got != want {
		t.Fatalf("states =\n%s, want\n%s", got, want)
	}
	if alive(p.PID()) {
		t.Fatal("the last instance is alive")
	}
	if !p.Log().Closed() {
		t.Fatal("log open after failure")
	}
	// The output of every run is kept, in order.
	lines, _ := p.Log().Lines(0)
	if n := strings.Count(fmt.Sprint(lines), "about to fail"); n != 4 {
		t.Fatalf("%d runs in the log, want 4", n)
	}
}

func TestRestartThatNeverBecomesHealthyCounts(t *testing.T) {
	t.Parallel()
	// The first run is healthy and crashes; every later one never answers.
	s := spec(map[string]string{
		"AGENT_CRASH_MS": "30", "AGENT_HEALTHY_ONCE": filepath.Join(t.TempDir(), "ran"),
	})
	s.StartTimeout = 60 * time.Millisecond
	s.Restart.MaxRestarts = 2
	p, rec := start(t, s)
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("never gave up")
	}
	_, reason := p.State()
	want := regexp.MustCompile(`^gave up after 3 failures in a row, the last: GET http://127\.0\.0\.1:\d+/health did not answer 200 within 60ms; last output: "unhealthy"$`)
	if !want.MatchString(reason) {
		t.Fatalf("reason = %q", reason)
	}
	var exits []string
	for _, e := range rec.all() {
		if e.Type == process.EventExit {
			exits = append(exits, fmt.Sprintf("%s/%v", e.Exit, e.Exit.Expected))
		}
	}
	if got, want := fmt.Sprint(exits), "[status 1/false signal killed/true signal killed/true]"; got != want {
		t.Fatalf("exits = %s, want %s", got, want)
	}
}

func TestRestartsOff(t *testing.T) {
	t.Parallel()
	s := spec(map[string]string{"AGENT_CRASH_MS": "20"})
	s.Restart.MaxRestarts = -1
	p, rec := start(t, s)
	<-p.Done()
	if _, reason := p.State(); reason != `exited with status 1 (restarts are off); last output: "crashing"` {
		t.Fatalf("reason = %q", reason)
	}
	if got, want := fmt.Sprint(rec.states()), "[starting running crashed failed]"; got != want {
		t.Fatalf("states = %s, want %s", got, want)
	}
	if p.LastExit() == nil || p.LastExit().Code != 1 {
		t.Fatalf("last exit = %+v", p.LastExit())
	}
}

func TestHealthyRunResetsRestarts(t *testing.T) {
	t.Parallel()
	// It runs 60ms, longer than MaxBackoff (40ms), every time: the count
	// never grows past 1, so it never gives up.
	p, rec := start(t, spec(map[string]string{"AGENT_CRASH_MS": "60"}))
	eventually(t, "five restarts", 5*time.Second, func() bool {
		n := 0
		for _, e := range rec.all() {
			if e.Type == process.EventRestart {
				n++
			}
		}
		return n >= 5
	})
	if st, reason := p.State(); st.Final() {
		t.Fatalf("state = %s (%s), want it still restarting", st, reason)
	}
	for _, e := range rec.all() {
		if e.Type == process.EventRestart && e.Backoff != 10*time.Millisecond {
			t.Fatalf("backoff %s, want always the initial 10ms", e.Backoff)
		}
	}
}

func TestStopDuringBackoff(t *testing.T) {
	t.Parallel()
	s := spec(map[string]string{"AGENT_CRASH_MS": "100"})
	s.Restart.InitialBackoff, s.Restart.MaxBackoff = time.Minute, time.Minute
	p, rec := start(t, s)
	eventually(t, "restarting", 3*time.Second, func() bool {
		st, _ := p.State()
		return st == process.StateRestarting
	})
	began := time.Now()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("Stop waited the backoff: %s", took)
	}
	got := fmt.Sprint(rec.states())
	if want := "[starting running crashed restarting stopped]"; got != want {
		t.Fatalf("states = %s, want %s", got, want)
	}
}

func TestStopIgnoringSIGTERMEndsBySIGKILL(t *testing.T) {
	t.Parallel()
	s := spec(map[string]string{"AGENT_IGNORE_TERM": "1"})
	s.Grace = 100 * time.Millisecond
	p, rec := start(t, s)
	pid := p.PID()
	began := time.Now()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < s.Grace {
		t.Fatalf("stopped after %s, before the grace of %s", took, s.Grace)
	}
	if alive(pid) {
		t.Fatal("alive after Stop")
	}
	var exit *process.Exit
	for _, e := range rec.all() {
		if e.Type == process.EventExit {
			exit = e.Exit
		}
	}
	if exit == nil || exit.Signal != "killed" || !exit.Expected {
		t.Fatalf("exit = %+v, want an expected SIGKILL", exit)
	}
	if st, _ := p.State(); st != process.StateStopped {
		t.Fatalf("state = %s", st)
	}
}

func TestStopContextEndsEarly(t *testing.T) {
	t.Parallel()
	s := spec(map[string]string{"AGENT_IGNORE_TERM": "1"})
	s.Grace = time.Minute
	p, _ := start(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Stop = %v, want the deadline", err)
	}
	if alive(p.PID()) {
		t.Fatal("alive after Stop")
	}
}

func TestGrandchildDiesWithTheGroup(t *testing.T) {
	t.Parallel()
	p, _ := start(t, spec(map[string]string{"AGENT_GRANDCHILD": "1"}))
	gc := grandchild(t, p.Log())
	if !alive(gc) {
		t.Fatal("grandchild not running")
	}
	// The grandchild ignores SIGTERM; the agent does not and exits at
	// once, and what it leaves in its group is killed.
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "grandchild gone", 2*time.Second, func() bool { return !alive(gc) })
}

func TestCrashKillsGrandchildBeforeRestart(t *testing.T) {
	t.Parallel()
	p, rec := start(t, spec(map[string]string{"AGENT_GRANDCHILD": "1", "AGENT_CRASH_MS": "50"}))
	gc := grandchild(t, p.Log())
	eventually(t, "a restart", 3*time.Second, func() bool {
		for _, e := range rec.all() {
			if e.Type == process.EventRestart {
				return true
			}
		}
		return false
	})
	eventually(t, "first grandchild gone", 2*time.Second, func() bool { return !alive(gc) })
}

func grandchild(t *testing.T, l *process.Log) int {
	t.Helper()
	ln := waitLine(t, l, "grandchild ")
	pid, err := strconv.Atoi(strings.TrimPrefix(ln.Text, "grandchild "))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestNeverHealthyFailsStart(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	d := &process.Driver{OnEvent: rec.add}
	s := spec(map[string]string{"AGENT_NEVER_HEALTHY": "1", "AGENT_GRANDCHILD": "1", "AGENT_PRINT": "warming up"})
	s.StartTimeout = 150 * time.Millisecond
	p, err := d.Start(context.Background(), s)
	if err == nil {
		_ = p.Stop(context.Background())
		t.Fatal("Start succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`start "agent"`, "/health did not answer 200 within 150ms", `last output: "grandchild `} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q lacks %q", msg, want)
		}
	}
	var pid int
	for _, e := range rec.all() {
		if e.PID != 0 {
			pid = e.PID
		}
	}
	if pid == 0 || alive(pid) {
		t.Fatalf("pid %d left running", pid)
	}
	// The grandchild was killed too (it stays a zombie until init, its new
	// parent, reaps it: GroupAlive counts zombies).
	_, after, _ := strings.Cut(msg, `last output: "grandchild `)
	gc, err := strconv.Atoi(strings.TrimSuffix(after, `"`))
	if err != nil {
		t.Fatalf("grandchild pid in %q: %v", msg, err)
	}
	eventually(t, "grandchild gone", 2*time.Second, func() bool { return !alive(gc) })
	if got, want := fmt.Sprint(rec.states()), "[starting failed]"; got != want {
		t.Fatalf("states = %s, want %s", got, want)
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	d := &process.Driver{}
	for name, tc := range map[string]struct {
		spec process.Spec
		want string
	}{
		"no command":      {process.Spec{}, "invalid process spec"},
		"missing program": {process.Spec{Name: "x", Command: []string{"/nonexistent/agent"}}, `start "x": run /nonexistent/agent`},
		"exits at once": {func() process.Spec {
			s := spec(map[string]string{"AGENT_CRASH_MS": "1", "AGENT_PRINT_ERR": "bad config"})
			s.Env["AGENT_NEVER_HEALTHY"] = "1"
			return s
		}(), `exited with status 1 before GET`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := d.Start(context.Background(), tc.spec)
			if err == nil {
				_ = p.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestStartContextCancelled(t *testing.T) {
	t.Parallel()
	s := spec(map[string]string{"AGENT_NEVER_HEALTHY": "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := (&process.Driver{}).Start(ctx, s)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("Start = %v", err)
	}
}

func TestLimitsApplied(t *testing.T) {
	t.Parallel()
	s := spec(nil)
	s.Limits = process.Limits{MemoryBytes: 8 << 30, CPUSeconds: 60, OpenFiles: 64}
	p, _ := start(t, s)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Max cpu time":      "60 60 seconds",
		"Max open files":    "64 64 files",
		"Max address space": fmt.Sprintf("%d %d bytes", uint64(8<<30), uint64(8<<30)),
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		for k, v := range want {
			if strings.HasPrefix(sc.Text(), k) {
				if got := strings.Join(strings.Fields(sc.Text()[len(k):]), " "); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
				delete(want, k)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("/proc/%d/limits lacks %v:\n%s", p.PID(), want, b)
	}
	// Still healthy under them.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", p.Port()))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
}

func TestKillGroupRefusesBadGroups(t *testing.T) {
	t.Parallel()
	for _, pgid := range []int{-1, 0, 1, syscall.Getpgrp()} {
		if err := process.KillGroup(pgid); err == nil {
			t.Errorf("KillGroup(%d) = nil", pgid)
		}
	}
	if process.GroupAlive(0) {
		t.Error("GroupAlive(0)")
	}
}

// TestDriverKilled kills a driver (this test binary re-run as
// helperDriver) with SIGKILL: Pdeathsig kills its agent, and KillGroup,
// given the recorded group, kills the grandchild left behind.
func TestDriverKilled(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCESS_TEST_HELPER=driver", "PROCESS_TEST_AGENT="+agentBin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pgid, gc int
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, serr := fmt.Sscanf(line, "pgid %d grandchild %d", &pgid, &gc); err != nil || serr != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("helper said %q: %v %v", line, err, serr)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	eventually(t, "the agent dies with its driver", 2*time.Second, func() bool { return !alive(pgid) })
	if !alive(gc) || !process.GroupAlive(pgid) {
		t.Fatal("the grandchild was expected to outlive the driver (only Pdeathsig ran)")
	}
	if err := process.KillGroup(pgid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the grandchild dies by KillGroup", 2*time.Second, func() bool { return !alive(gc) })
	if err := process.KillGroup(pgid); err != nil {
		t.Fatalf("KillGroup of a gone group = %v", err)
	}
}

func helperDriver() {
	s := spec(map[string]string{"AGENT_GRANDCHILD": "1"})
	s.Command = []string{os.Getenv("PROCESS_TEST_AGENT")}
	p, err := (&process.Driver{}).Start(context.Background(), s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	after := 0
	for {
		lines, next, err := p.Log().Follow(ctx, after)
		if err != nil {
			os.Exit(1)
		}
		for _, ln := range lines {
			if pid, ok := strings.CutPrefix(ln.Text, "grandchild "); ok {
				fmt.Printf("pgid %d grandchild %s\n", p.PGID(), pid)
				select {}
			}
		}
		after = next
	}
}

// BenchmarkStartStop measures a start until healthy and a Stop of the test
// agent.
func BenchmarkStartStop(b *testing.B) {
	s := spec(nil)
	s.HealthInterval = time.Millisecond
	d := &process.Driver{}
	for b.Loop() {
		p, err := d.Start(context.Background(), s)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
