package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ossa-platform/platform/cmd/ossa/serve"
	"github.com/ossa-platform/platform/internal/testenv"
)

// The README's quick start listens on the gateway's and the example agent's
// default ports.
const (
	readmeGatewayPort = 3100
	readmeAgentPort   = 9001
)

// TestReadmeQuickStart runs every command of README.md's "Try it" block, as
// someone pasting it into bash at the repository's root would, against the
// real gateway and the real example agent (examples/agent):
//
//   - The first command, the build, runs from the repository's root with
//     one substitution: its output directory "-o bin/" becomes a temporary
//     directory's bin/, so that the test writes nothing into the repository.
//   - Every other command runs, in order, in one bash process (so that the
//     jobs the block starts with & are that shell's jobs, which the stop line
//     names), whose working directory is a temporary one holding bin/ (the
//     binaries just built) and examples/ (a link to the repository's):
//     ./data and the logs land there.
//   - Each command must exit 0 and print no problem+json body. After one
//     that starts something in the background, the test waits until its
//     port (3100 for ossa serve, 9001 for the example agent) accepts
//     connections. The workflow's runs must succeed.
//   - After the last command, the stop line, both ports must be free within
//     a few seconds, and every process the commands started must be gone.
//
// The block uses the README's real ports: when either is taken, the test
// skips (fails in CI).
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the quick start builds the binaries, which takes a while")
	}
	for _, tool := range []string{"bash", "curl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skipf(t, "the README's quick start needs %s on PATH: %v", tool, err)
		}
	}
	for _, port := range []int{readmeGatewayPort, readmeAgentPort} {
		if !portFree(port) {
			testenv.Skipf(t, "port %d is taken: the README's quick start listens on it", port)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	commands, err := quickStart(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	// Lines that only export settings (GOTOOLCHAIN) come first; they apply
	// to the build and to the shell that runs the rest.
	var exports []string
	for len(commands) > 0 && strings.HasPrefix(commands[0], "export ") {
		exports, commands = append(exports, commands[0]), commands[1:]
	}
	if len(commands) < 3 || !strings.HasPrefix(commands[0], "go build ") || !strings.HasPrefix(commands[len(commands)-1], "kill ") {
		t.Fatalf("the quick start should build first and stop last (kill); it is:\n%s", strings.Join(commands, "\n"))
	}

	work := t.TempDir()
	build := strings.Replace(commands[0], " -o bin/ ", " -o '"+filepath.Join(work, "bin")+"/' ", 1)
	if build == commands[0] {
		t.Fatalf("the build line does not write to -o bin/, which the test redirects: %s", commands[0])
	}
	t.Logf("$ %s", build)
	cmd := exec.Command("bash", "-c", strings.Join(append(exports, build), "\n"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the build line failed: %v\n%s", err, out)
	}
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}

	sh := startShell(t, work)
	for i, command := range exports {
		sh.run(t, -len(exports)+i, command)
	}
	succeeded := 0
	for i, command := range commands[1:] {
		out, errOut := sh.run(t, i+1, command)
		if strings.Contains(out+errOut, `"type":"urn:ossa:problem:`) {
			t.Fatalf("$ %s\nprinted a problem:\n%s%s", command, out, errOut)
		}
		switch words := strings.Fields(command); {
		case background(command):
			port := 0
			switch {
			case slices.Contains(words, "serve"):
				port = readmeGatewayPort
			case strings.HasSuffix(words[0], "agent") || slices.Contains(words, "./examples/agent"):
				port = readmeAgentPort
			default:
				t.Fatalf("which port does the background command open? %s", command)
			}
			waitListening(t, port, sh)
		case strings.Contains(command, "/api/v1/orchestrate?wait="):
			var run struct{ Status string }
			if err := json.Unmarshal([]byte(out), &run); err != nil || run.Status != "succeeded" {
				t.Fatalf("$ %s\nthe run did not succeed (%v):\n%s", command, err, out)
			}
			succeeded++
		case slices.Contains(words, "run") && slices.Contains(words, "--follow"):
			// It exits 1 unless the run succeeds.
			if !strings.Contains(out, "  run succeeded\n") {
				t.Fatalf("$ %s\ndid not report the run's success:\n%s", command, out)
			}
			succeeded++
		}
	}
	if succeeded == 0 {
		t.Fatal("no command of the quick start runs a workflow to its end (orchestrate?wait= or run --follow)")
	}

	// The stop line ran last: the ports are free, and every job ended.
	for _, port := range []int{readmeGatewayPort, readmeAgentPort} {
		deadline := time.Now().Add(10 * time.Second)
		for !portFree(port) {
			if time.Now().After(deadline) {
				t.Fatalf("port %d is still taken 10s after the stop line; the gateway's log:\n%s", port, readFile(work, "ossa.log"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	sh.exit(t)
}

// quickStart returns the commands of README.md's "Try it" block: its
// lines without blank and comment lines, a line ending in a backslash
// joined with the next one (as bash joins them).
func quickStart(readme string) ([]string, error) {
	_, section, ok := strings.Cut(readme, "\n## Try it\n")
	if !ok {
		return nil, errors.New(`README.md has no "## Try it" section`)
	}
	_, block, ok := strings.Cut(section, "\n```sh\n")
	if !ok {
		return nil, errors.New(`the "Try it" section has no sh block`)
	}
	block, _, ok = strings.Cut(block, "\n```")
	if !ok {
		return nil, errors.New(`the "Try it" block does not end`)
	}
	var commands []string
	var current string
	for _, line := range strings.Split(block, "\n") {
		if current == "" && (strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			current += line + "\n"
			continue
		}
		commands = append(commands, current+line)
		current = ""
	}
	if current != "" {
		return nil, fmt.Errorf("the block ends in a continued line: %s", current)
	}
	return commands, nil
}

// background reports whether a command starts something in the
// background: it ends with '&', before any " #" comment.
func background(command string) bool {
	if i := strings.Index(command, " #"); i >= 0 {
		command = command[:i]
	}
	return strings.HasSuffix(strings.TrimSpace(command), "&")
}

// shell is one bash process the commands run in, in its own process group.
type shell struct {
	cmd    *exec.Cmd
	dir    string
	stdin  *os.File
	status chan string
}

// startShell starts bash in dir with the environment of the test, minus
// every variable that would configure the gateway or name another one.
func startShell(t *testing.T, dir string) *shell {
	t.Helper()
	drop := map[string]bool{"OSSA_SERVER": true}
	for _, v := range serve.Variables() {
		drop[v] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !drop[name] {
			env = append(env, kv)
		}
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "shell.log"))
	if err != nil {
		t.Fatal(err)
	}
	sh := &shell{dir: dir, stdin: stdinW, status: make(chan string)}
	sh.cmd = exec.Command("bash")
	sh.cmd.Dir, sh.cmd.Env = dir, env
	sh.cmd.Stdin, sh.cmd.Stdout, sh.cmd.Stderr = stdinR, log, log
	sh.cmd.ExtraFiles = []*os.File{statusW} // fd 3: where each command's exit status goes
	sh.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	statusW.Close()
	log.Close()
	pgid := sh.cmd.Process.Pid
	t.Cleanup(func() {
		// Whatever the commands started, even what left the shell's jobs.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		sh.stdin.Close()
		_ = sh.cmd.Wait()
	})
	go func() {
		defer close(sh.status)
		sc := bufio.NewScanner(statusR)
		for sc.Scan() {
			sh.status <- sc.Text()
		}
	}()
	return sh
}

// run runs command number n in the shell, its standard input /dev/null,
// and returns what it printed; it fails t unless the command exits 0
// within two minutes.
func (sh *shell) run(t *testing.T, n int, command string) (stdout, stderr string) {
	t.Helper()
	outFile, errFile := fmt.Sprintf("cmd%d.out", n), fmt.Sprintf("cmd%d.err", n)
	// The braces run the command in the shell itself, so that a job it
	// starts is the shell's; the newline ends a trailing comment.
	fmt.Fprintf(sh.stdin, "{\n%s\n} </dev/null >%s 2>%s; echo \"%d $?\" >&3\n", command, outFile, errFile, n)
	var status string
	select {
	case status = <-sh.status:
	case <-time.After(2 * time.Minute):
		t.Fatalf("$ %s\ndid not end within 2 minutes", command)
	}
	stdout, stderr = readFile(sh.dir, outFile), readFile(sh.dir, errFile)
	t.Logf("$ %s\n%s%s", command, limit(stdout), limit(stderr))
	if status != strconv.Itoa(n)+" 0" {
		t.Fatalf("$ %s\nexited %q (command number, status), printing:\n%s%s\nthe shell's own output:\n%s",
			command, status, stdout, stderr, readFile(sh.dir, "shell.log"))
	}
	return stdout, stderr
}

// exit waits for the shell's jobs, ends the shell and checks that no
// process of its group is left: the stop line must have stopped what the
// block started.
func (sh *shell) exit(t *testing.T) {
	t.Helper()
	fmt.Fprint(sh.stdin, "wait; echo \"wait $?\" >&3\n")
	select {
	case <-sh.status:
	case <-time.After(10 * time.Second):
		t.Fatalf("the shell's jobs still run 10s after the stop line; the shell's output:\n%s", readFile(sh.dir, "shell.log"))
	}
	sh.stdin.Close()
	if err := sh.cmd.Wait(); err != nil {
		t.Fatalf("the shell: %v\n%s", err, readFile(sh.dir, "shell.log"))
	}
	// The shell has reaped its jobs and was reaped: any process left in
	// its group escaped the jobs, as the child of a killed go run would.
	if err := syscall.Kill(-sh.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("processes the quick start started still run after its stop line (kill: %v)", err)
	}
}

// waitListening waits until port accepts connections.
func waitListening(t *testing.T, port int, sh *shell) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on port %d 30s after starting it: %v\nthe shell's output:\n%s\nthe gateway's log:\n%s",
				port, err, readFile(sh.dir, "shell.log"), readFile(sh.dir, "ossa.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// portFree reports whether port can be listened on, as the gateway and
// the agent listen: on every interface.
func portFree(port int) bool {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func readFile(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

// limit cuts a command's output for the test's log.
func limit(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…\n"
	}
	return s
}
