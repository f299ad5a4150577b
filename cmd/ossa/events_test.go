package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// greetWorkflow greets workflow.input.name, then shouts it.
const greetWorkflow = `{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"greet"},
  "spec":{"inputs":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]},
  "steps":[{"id":"hello","capability":"greet","input":{"name":"${{ workflow.input.name }}"}},
           {"id":"shout","capability":"greet","depends_on":["hello"],"input":{"name":"${{ steps.hello.output }}"}}]}}`

func greeter(t *testing.T) string {
	t.Helper()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Input struct{ Name string } }
		json.NewDecoder(r.Body).Decode(&body)
		if body.Input.Name == "nobody" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"no one to greet"}`)
			return
		}
		fmt.Fprintf(w, `{"output":%q}`, "hello, "+body.Input.Name)
	}))
	t.Cleanup(agent.Close)
	return agent.URL
}

func TestRunFollow(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	call(t, "POST", server+"/api/v1/agents", `{"name":"greeter","type":"worker","capabilities":["greet"],"endpoint":"`+greeter(t)+`"}`, 201)
	call(t, "POST", server+"/api/v1/workflows", greetWorkflow, 201)

	code, out, errOut := ossaCmd(server, "run", "greet", "--param", "name=Ada", "--follow")
	if code != 0 {
		t.Fatalf("run --follow: %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"queued", "run started", "hello started on greeter", "hello succeeded in",
		"shout started on greeter", "shout succeeded", "run succeeded", `Output: {"hello":"hello, Ada","shout":"hello, hello, Ada"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("run --follow output lacks %q:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "hello succeeded"), strings.Index(out, "shout started"); i < 0 || j < i {
		t.Errorf("steps out of order:\n%s", out)
	}

	// A failing run: exit 1, after showing why.
	code, out, errOut = ossaCmd(server, "run", "greet", "--params", `{"name":"nobody"}`, "--follow")
	if code != 1 || !strings.Contains(out, "hello failed") || !strings.Contains(out, "no one to greet") ||
		!strings.Contains(out, "run failed") || !strings.Contains(errOut, "the run failed") {
		t.Fatalf("failing run: %d\n%s\n%s", code, out, errOut)
	}

	// Without --follow: the ID at once.
	code, out, _ = ossaCmd(server, "run", "greet", "--param", "name=Bo")
	if code != 0 || !strings.Contains(out, ": queued") {
		t.Fatalf("run: %d %q", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"run"}, 2, "missing WORKFLOW"},
		{[]string{"run", "greet", "--param", "name"}, 2, "want KEY=VALUE"},
		{[]string{"run", "greet", "--params", "[1]"}, 2, "--params must be a JSON object"},
		{[]string{"run", "greet", "--param", "name=7"}, 1, "422"}, // 7 is a number, not the string the inputs want
		{[]string{"run", "ghost", "--follow"}, 1, "404"},
		{[]string{"events", "--channel", "bogus"}, 2, "unknown channel"},
	} {
		code, _, errOut := ossaCmd(server, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: %d %q, want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestEventsTail(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	call(t, "POST", server+"/api/v1/agents", `{"name":"early","type":"worker","capabilities":["x"],"endpoint":"http://127.0.0.1:1"}`, 201)

	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"events", "--channel", "agent-events", "--since", "0"}, out, errOut,
			func(k string) string {
				if k == "OSSA_SERVER" {
					return server
				}
				return ""
			})
	}()
	call(t, "POST", server+"/api/v1/agents", `{"name":"late","type":"worker","capabilities":["x"],"endpoint":"http://127.0.0.1:1"}`, 201)
	call(t, "POST", server+"/api/v1/workflows", greetWorkflow, 201) // not on agent-events
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("events: exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "agent.registered") || !strings.Contains(lines[0], "agent=early") ||
		!strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[1], "agent=late") {
		t.Fatalf("events printed:\n%s", out.String())
	}
}
