package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// startAgentsGateway runs a gateway over SQLite in a temp dir and returns
// its URL.
func startAgentsGateway(t *testing.T) string {
	t.Helper()
	return ossatest.Start(t).URL
}

// agentsCmd runs `ossa agents args...` with OSSA_SERVER set to server.
func agentsCmd(t *testing.T, server string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "OSSA_SERVER" {
			return server
		}
		return ""
	}
	code = runAgents(context.Background(), args, &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

func TestAgentsVerbs(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)

	code, out, errOut := agentsCmd(t, server, "register", "--name", "summarizer", "--endpoint", "http://localhost:9001",
		"--capability", "summarize", "--capability", "translate", "--label", "team:search", "--description", "Sums up.")
	if code != 0 {
		t.Fatalf("register by flags: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Name:", "summarizer", "Type:", "worker", "Capabilities:", "summarize, translate", "Labels:", "team:search", "Status:", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("register output lacks %q:\n%s", want, out)
		}
	}

	file := filepath.Join(t.TempDir(), "agent.json")
	body := `{"name":"planner","type":"orchestrator","endpoint":"https://example.com/plan","labels":{"team":"core"}}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = agentsCmd(t, server, "register", "-f", file, "--output", "json")
	if code != 0 {
		t.Fatalf("register -f: exit %d, stderr %q", code, errOut)
	}
	var planner platform.Agent
	if err := json.Unmarshal([]byte(out), &planner); err != nil {
		t.Fatalf("register -f output is not an agent: %v\n%s", err, out)
	}
	if planner.Name != "planner" || planner.Type != platform.AgentOrchestrator || planner.ID == "" || !strings.Contains(out, "\n  \"id\"") {
		t.Fatalf("register -f output:\n%s", out)
	}

	code, out, errOut = agentsCmd(t, server, "list")
	if code != 0 {
		t.Fatalf("list: exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME TYPE STATUS HEALTH CAPABILITIES ENDPOINT ID" {
		t.Fatalf("list table:\n%s", out)
	}
	if got, want := strings.Fields(lines[1]), []string{"summarizer", "worker", "active", "unknown", "summarize,translate", "http://localhost:9001"}; strings.Join(got[:6], " ") != strings.Join(want, " ") {
		t.Fatalf("list row = %q, want %q then the ID", got, want)
	}
	if got := strings.Fields(lines[2]); got[0] != "planner" || got[4] != "-" || got[6] != planner.ID {
		t.Fatalf("list row = %q", got)
	}

	code, out, _ = agentsCmd(t, server, "list", "--output", "json", "--label", "team:core")
	var l ohttp.AgentList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil {
		t.Fatalf("list json: exit %d, %v\n%s", code, err, out)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "planner" || l.NextCursor != nil {
		t.Fatalf("list --label team:core = %s", out)
	}

	// Flags after the positional argument, and --server over OSSA_SERVER.
	code, out, errOut = agentsCmd(t, "http://127.0.0.1:1", "get", planner.ID, "--output", "json", "--server", server)
	var got platform.Agent
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("get: exit %d, %v, stderr %q", code, err, errOut)
	}
	if got.Name != "planner" || got.Labels["team"] != "core" {
		t.Fatalf("get = %+v", got)
	}

	code, out, errOut = agentsCmd(t, server, "delete", "planner")
	if code != 0 || out != "deleted agent planner\n" {
		t.Fatalf("delete: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = agentsCmd(t, server, "get", "planner")
	if code != 1 || out != "" {
		t.Fatalf("get after delete: exit %d, stdout %q", code, out)
	}
	if want := "ossa: 404 Not Found: agent \"planner\" not found\n"; errOut != want {
		t.Fatalf("get after delete: stderr %q, want %q", errOut, want)
	}
}

func TestAgentsListAll(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	for _, name := range []string{"a1", "a2", "a3"} {
		if code, _, errOut := agentsCmd(t, server, "register", "--name", name, "--endpoint", "http://localhost:9001"); code != 0 {
			t.Fatalf("register %s: %s", name, errOut)
		}
	}
	code, out, errOut := agentsCmd(t, server, "list", "--limit", "2")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(errOut, "--cursor ") {
		t.Fatalf("one page: exit %d, stdout:\n%s\nstderr %q", code, out, errOut)
	}
	code, out, errOut = agentsCmd(t, server, "list", "--limit", "2", "--all", "--output", "json")
	var l ohttp.AgentList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || errOut != "" {
		t.Fatalf("--all: exit %d, %v, stderr %q", code, err, errOut)
	}
	if len(l.Items) != 3 || l.Items[2].Name != "a3" || l.NextCursor != nil {
		t.Fatalf("--all = %s", out)
	}
}

func TestAgentsFailures(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	code, _, errOut := agentsCmd(t, server, "register", "--name", "Bad", "--type", "robot", "--endpoint", "ftp://x")
	if code != 1 || strings.Count(errOut, "\n") != 1 ||
		!strings.HasPrefix(errOut, "ossa: 422 Unprocessable Entity: the agent is not valid (/name: ") ||
		!strings.Contains(errOut, "; /type: must be one of") || !strings.Contains(errOut, "; /endpoint: ") {
		t.Fatalf("invalid agent: exit %d, stderr %q", code, errOut)
	}

	file := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(file, []byte(`{"nme":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := agentsCmd(t, server, "register", "-f", file); code != 1 || !strings.Contains(errOut, `unknown field "nme"`) {
		t.Fatalf("misspelt member: exit %d, stderr %q", code, errOut)
	}

	code, _, errOut = agentsCmd(t, "http://127.0.0.1:1", "list")
	if code != 1 || !strings.HasPrefix(errOut, "ossa: ") || !strings.Contains(errOut, "is the gateway running?") {
		t.Fatalf("no gateway: exit %d, stderr %q", code, errOut)
	}
}

func TestAgentsUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "Usage: ossa agents <verb>"},
		{[]string{"--help"}, 0, "register", ""},
		{[]string{"get", "--help"}, 0, "Usage: ossa agents get REF", ""},
		{[]string{"bogus"}, 2, "", `unknown verb "bogus"`},
		{[]string{"get"}, 2, "", "ossa agents get: missing REF\nUsage: ossa agents get REF"},
		{[]string{"delete", "a", "b"}, 2, "", `unexpected argument "b"`},
		{[]string{"list", "--output", "yaml"}, 2, "", "--output must be table or json"},
		{[]string{"list", "--nope"}, 2, "", "flag provided but not defined: -nope"},
		{[]string{"list", "--limit", "many"}, 2, "", `invalid value "many" for flag -limit`},
		{[]string{"list", "--label", "team"}, 2, "", "must have the form key:value"},
		{[]string{"register", "--name", "x"}, 2, "", "register needs -f FILE, or --name and --endpoint"},
		{[]string{"register", "-f", "a.json", "--name", "x"}, 2, "", "-f cannot be combined with --name"},
	}
	for _, tt := range tests {
		// No gateway listens: a usage error must stop before any request.
		code, out, errOut := agentsCmd(t, "http://127.0.0.1:1", tt.args...)
		if code != tt.code || !strings.Contains(out, tt.inStdout) || !strings.Contains(errOut, tt.inStderr) {
			t.Errorf("ossa agents %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out, errOut, tt.code, tt.inStdout, tt.inStderr)
		}
		if tt.code == 0 && errOut != "" {
			t.Errorf("ossa agents %q: stderr %q", tt.args, errOut)
		}
	}
}
