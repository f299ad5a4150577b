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
)

// workflowsCmd runs `ossa workflows args...` with OSSA_SERVER set to server.
func workflowsCmd(t *testing.T, server string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "OSSA_SERVER" {
			return server
		}
		return ""
	}
	code = runWorkflows(context.Background(), args, &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

// writeFile writes body to a file of a temporary directory and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// fields is each line of a table, split into its columns.
func fields(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// nestedWorkflow has a step of each kind that holds others.
const nestedWorkflow = `{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"nested"},
  "spec":{"steps":[
    {"id":"both","parallel":[{"id":"left","ref":"fetcher"},{"id":"right","capability":"summarize"}]},
    {"id":"each","depends_on":["both"],"loop":{"over":"${{ fromJSON('[1,2]') }}"},"steps":[{"id":"one","capability":"review"}]},
    {"id":"choose","branches":[{"condition":"true","steps":[{"id":"yes","capability":"review"}]}],"else":[{"id":"no","capability":"review"}]}]}}`

func TestWorkflowsVerbs(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)

	code, out, errOut := workflowsCmd(t, server, "create", "-f", "../../examples/workflows/review-pipeline.ossa.yaml")
	if code != 0 || errOut != "" {
		t.Fatalf("create -f YAML: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Name:         review-pipeline\n", "Version:      1.0.0\n", "API version:  ossa/v0.4.6\n",
		"Description:  Fetches a repository's latest change", "Created:", "Steps (3):\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	steps := out[strings.Index(out, "Steps (3):\n")+len("Steps (3):\n"):]
	if got, want := fields(steps), [][]string{
		{"STEP", "KIND", "REF", "CAPABILITY", "DEPENDS", "ON"},
		{"fetch", "Agent", "fetcher", "fetch", "-"},
		{"review", "Agent", "code-reviewer", "review", "fetch"},
		{"summarize", "Agent", "-", "summarize", "fetch"},
	}; !equalRows(got, want) {
		t.Errorf("steps table = %q, want %q", got, want)
	}

	code, out, errOut = workflowsCmd(t, server, "create", "-f", writeFile(t, "nested.json", nestedWorkflow), "--output", "json")
	var nested platform.Workflow
	if err := json.Unmarshal([]byte(out), &nested); code != 0 || err != nil {
		t.Fatalf("create -f JSON: exit %d, %v, stderr %q", code, err, errOut)
	}
	if nested.Name != "nested" || nested.ID == "" || !strings.Contains(out, "\n  \"definition\"") {
		t.Fatalf("create --output json:\n%s", out)
	}

	// get by ID shows nested steps by the paths a run gives them.
	code, out, errOut = workflowsCmd(t, server, "get", nested.ID)
	if code != 0 {
		t.Fatalf("get: exit %d, stderr %q", code, errOut)
	}
	steps = out[strings.Index(out, "Steps (8):\n")+len("Steps (8):\n"):]
	if got, want := fields(steps), [][]string{
		{"STEP", "KIND", "REF", "CAPABILITY", "DEPENDS", "ON"},
		{"both", "Parallel", "-", "-", "-"},
		{"both/left", "Agent", "fetcher", "-", "-"},
		{"both/right", "Agent", "-", "summarize", "-"},
		{"each", "Loop", "-", "-", "both"},
		{"each[]/one", "Agent", "-", "review", "-"},
		{"choose", "Conditional", "-", "-", "-"},
		{"choose/0/yes", "Agent", "-", "review", "-"},
		{"choose/else/no", "Agent", "-", "review", "-"},
	}; !equalRows(got, want) {
		t.Errorf("nested steps = %q\nwant %q", got, want)
	}

	code, out, errOut = workflowsCmd(t, server, "list")
	rows := fields(out)
	if code != 0 || len(rows) != 3 || strings.Join(rows[0], " ") != "NAME VERSION API VERSION STEPS CREATED ID" {
		t.Fatalf("list: exit %d, stderr %q:\n%s", code, errOut, out)
	}
	if r := rows[1]; r[0] != "review-pipeline" || r[1] != "1.0.0" || r[2] != "ossa/v0.4.6" || r[3] != "3" || r[6] == "" {
		t.Errorf("list row = %q", r)
	}
	if r := rows[2]; r[0] != "nested" || r[1] != "-" || r[3] != "8" || r[6] != nested.ID {
		t.Errorf("list row = %q", r)
	}

	code, out, errOut = workflowsCmd(t, server, "list", "--limit", "1")
	if code != 0 || len(fields(out)) != 2 || !strings.Contains(errOut, "more workflows follow: add --cursor ") {
		t.Errorf("one page: exit %d, stdout:\n%s\nstderr %q", code, out, errOut)
	}
	code, out, errOut = workflowsCmd(t, server, "list", "--limit", "1", "--all", "--output", "json")
	var l ohttp.WorkflowList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || errOut != "" {
		t.Fatalf("list --all: exit %d, %v, stderr %q", code, err, errOut)
	}
	if len(l.Items) != 2 || l.Items[1].Name != "nested" || l.NextCursor != nil {
		t.Errorf("list --all = %s", out)
	}

	// Flags after the positional argument.
	code, out, _ = workflowsCmd(t, server, "get", "review-pipeline", "--output", "json")
	var got platform.Workflow
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got.Name != "review-pipeline" {
		t.Errorf("get --output json: exit %d, %v:\n%s", code, err, out)
	}

	code, out, errOut = workflowsCmd(t, server, "delete", "nested")
	if code != 0 || out != "deleted workflow nested\n" {
		t.Fatalf("delete: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = workflowsCmd(t, server, "get", "nested")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "ossa: 404 Not Found: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("get after delete: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = workflowsCmd(t, server, "delete", "review-pipeline", "--output", "json")
	if code != 0 || out != "" {
		t.Fatalf("delete --output json: exit %d, stdout %q", code, out)
	}
}

func equalRows(got, want [][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if strings.Join(got[i], " ") != strings.Join(want[i], " ") {
			return false
		}
	}
	return true
}

// TestWorkflowsCreateRefused checks that a manifest the gateway refuses
// exits 1 with the problem on one line, and leaves the stored workflows as
// they were.
func TestWorkflowsCreateRefused(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	pipeline := "../../examples/workflows/review-pipeline.ossa.yaml"
	if code, _, errOut := workflowsCmd(t, server, "create", "-f", pipeline); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	for _, tt := range []struct {
		name, file, stderr string
	}{
		{"taken name", pipeline, "ossa: 409 Conflict: "},
		{"an Agent", "../../examples/agents/fetcher.ossa.yaml",
			`ossa: 422 Unprocessable Entity: the Workflow manifest is not valid (/kind: must be Workflow here, not "Agent")`},
		{"a cycle", writeFile(t, "cycle.yaml", "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata: {name: cycle}\nspec:\n  steps:\n"+
			"    - {id: a, capability: x, depends_on: [b]}\n    - {id: b, capability: x, depends_on: [a]}\n"),
			"ossa: 422 Unprocessable Entity: the Workflow manifest is not valid (/spec/steps/"},
		{"not YAML", writeFile(t, "bad.yaml", "spec: [\n"), "ossa: 400 Bad Request: the manifest cannot be read"},
		{"no such file", filepath.Join(t.TempDir(), "none.yaml"), "no such file or directory"},
	} {
		code, out, errOut := workflowsCmd(t, server, "create", "-f", tt.file)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "ossa: ") || !strings.Contains(errOut, tt.stderr) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.name, code, out, errOut, tt.stderr)
		}
	}
	code, out, _ := workflowsCmd(t, server, "list", "--output", "json")
	var l ohttp.WorkflowList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Items) != 1 || l.Items[0].Name != "review-pipeline" {
		t.Fatalf("after refusals: exit %d, %v:\n%s", code, err, out)
	}
}

func TestWorkflowsUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "Usage: ossa workflows <verb>"},
		{[]string{"--help"}, 0, "create -f FILE", ""},
		{[]string{"create", "--help"}, 0, "Usage: ossa workflows create -f FILE", ""},
		{[]string{"bogus"}, 2, "", `unknown verb "bogus"`},
		{[]string{"create"}, 2, "", "ossa workflows create: create needs -f FILE\nUsage: ossa workflows create -f FILE"},
		{[]string{"create", "-f", "w.yaml", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"get"}, 2, "", "ossa workflows get: missing REF"},
		{[]string{"delete", "a", "b"}, 2, "", `unexpected argument "b"`},
		{[]string{"list", "--output", "yaml"}, 2, "", "--output must be table or json"},
		{[]string{"list", "--limit", "many"}, 2, "", `invalid value "many" for flag -limit`},
	}
	for _, tt := range tests {
		// No gateway listens: a usage error must stop before any request.
		code, out, errOut := workflowsCmd(t, "http://127.0.0.1:1", tt.args...)
		if code != tt.code || !strings.Contains(out, tt.inStdout) || !strings.Contains(errOut, tt.inStderr) {
			t.Errorf("ossa workflows %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out, errOut, tt.code, tt.inStdout, tt.inStderr)
		}
		if tt.code == 0 && errOut != "" {
			t.Errorf("ossa workflows %q: stderr %q", tt.args, errOut)
		}
	}
	if code, out, _ := ossaCmd("http://127.0.0.1:1", "help"); code != 0 || !strings.Contains(out, "\n  workflows  ") {
		t.Errorf("ossa help does not list workflows:\n%s", out)
	}
	code, _, errOut := workflowsCmd(t, "http://127.0.0.1:1", "list")
	if code != 1 || !strings.Contains(errOut, "is the gateway running?") {
		t.Errorf("no gateway: exit %d, stderr %q", code, errOut)
	}
}
