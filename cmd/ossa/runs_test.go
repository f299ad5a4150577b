package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// ossaCmd runs `ossa args...` with OSSA_SERVER set to server.
func ossaCmd(server string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "OSSA_SERVER" {
			return server
		}
		return ""
	}
	code = run(context.Background(), args, &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

func TestRunsAndExecuteVerbs(t *testing.T) {
	t.Parallel()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Input json.RawMessage }
		json.NewDecoder(r.Body).Decode(&body)
		fmt.Fprintf(w, `{"output":{"echo":%s}}`, body.Input)
	}))
	t.Cleanup(agent.Close)
	server := startAgentsGateway(t)
	call(t, "POST", server+"/api/v1/agents", `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":"`+agent.URL+`"}`, 201)

	code, out, errOut := ossaCmd(server, "execute", "echo", "--capability", "echo", "--input", `{"a":1}`)
	if code != 0 || strings.TrimSpace(out) != `{"echo":{"a":1}}` {
		t.Errorf("execute: %d %q %q", code, out, errOut)
	}
	code, _, errOut = ossaCmd(server, "execute", "ghost")
	if code != 1 || !strings.Contains(errOut, `404 Not Found: agent "ghost" not found`) {
		t.Errorf("execute ghost: %d %q", code, errOut)
	}
	code, _, errOut = ossaCmd(server, "execute", "echo", "--input", "{nope")
	if code != 2 || !strings.Contains(errOut, "--input must be JSON") {
		t.Errorf("execute bad input: %d %q", code, errOut)
	}

	run := call(t, "POST", server+"/api/v1/orchestrate?wait=30s", `{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow",
	  "metadata":{"name":"once"},"spec":{"steps":[{"id":"say","ref":"echo","input":{"x":"${{ workflow.input.x }}"}}]}},
	  "parameters":{"x":"hi"}}`, 200)
	id := run["id"].(string)
	code, out, errOut = ossaCmd(server, "runs", "list", "--status", "succeeded")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "once") {
		t.Errorf("runs list: %d %q %q", code, out, errOut)
	}
	code, out, errOut = ossaCmd(server, "runs", "get", id)
	if code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "say") || !strings.Contains(out, `"x":"hi"`) {
		t.Errorf("runs get: %d %q %q", code, out, errOut)
	}
	code, out, _ = ossaCmd(server, "runs", "cancel", id, "--output", "json")
	if code != 0 || !strings.Contains(out, `"status": "succeeded"`) {
		t.Errorf("cancel of a finished run leaves it: %d %q", code, out)
	}
	code, _, errOut = ossaCmd(server, "runs", "list", "--status", "sideways")
	if code != 1 || !strings.Contains(errOut, "400") {
		t.Errorf("bad status: %d %q", code, errOut)
	}
	code, _, errOut = ossaCmd(server, "runs", "get")
	if code != 2 || !strings.Contains(errOut, "missing ID") {
		t.Errorf("get without ID: %d %q", code, errOut)
	}
}
