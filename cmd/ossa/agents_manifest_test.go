package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

// TestAgentsRegisterManifest registers agents from OSSA manifests: YAML,
// JSON, JSON wrapped as the API takes it, and with --endpoint.
func TestAgentsRegisterManifest(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)

	code, out, errOut := agentsCmd(t, server, "register", "-f", "../../examples/agents/fetcher.ossa.yaml")
	if code != 0 {
		t.Fatalf("register -f YAML manifest: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Name:          fetcher\n", "Type:          worker\n", "Health:        unknown\n",
		"Endpoint:      http://localhost:9001\n", "Capabilities:  fetch\n", "Labels:        app:ossa-examples, team:platform\n", "Version:       1.0.0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("register output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = agentsCmd(t, server, "register", "-f", "../../examples/agents/code-reviewer.ossa.yaml",
		"--endpoint", "http://127.0.0.1:9002", "--output", "json")
	var reviewer platform.Agent
	if err := json.Unmarshal([]byte(out), &reviewer); code != 0 || err != nil {
		t.Fatalf("register -f --endpoint: exit %d, %v, stderr %q", code, err, errOut)
	}
	if reviewer.Name != "code-reviewer" || reviewer.Endpoint != "http://127.0.0.1:9002" || reviewer.APIVersion != "ossa/v0.4.6" {
		t.Fatalf("register -f --endpoint = %+v", reviewer)
	}

	jsonManifest := `{"apiVersion": "ossa/v0.4.6", "kind": "Agent", "metadata": {"name": "json-agent"},
  "spec": {"role": "Echo.", "endpoint": "http://localhost:9003", "capabilities": ["echo"]}}`
	for name, body := range map[string]string{
		"json-agent":    jsonManifest,
		"wrapped-agent": `{"manifest": ` + strings.Replace(jsonManifest, "json-agent", "wrapped-agent", 1) + `}`,
	} {
		code, out, errOut = agentsCmd(t, server, "register", "-f", writeFile(t, name+".json", body), "--output", "json")
		var a platform.Agent
		if err := json.Unmarshal([]byte(out), &a); code != 0 || err != nil || a.Name != name || a.Endpoint != "http://localhost:9003" {
			t.Fatalf("register -f %s: exit %d, %v, stderr %q:\n%s", name, code, err, errOut, out)
		}
		// The manifest is stored as it was written.
		resp, err := http.Get(server + "/api/v1/agents/" + name + "/manifest")
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := strings.Replace(jsonManifest, "json-agent", name, 1); string(stored) != want {
			t.Errorf("stored manifest of %s:\n%s\nwant\n%s", name, stored, want)
		}
	}
}

// TestAgentsRegisterManifestRefused checks the files register -f refuses,
// and that nothing is stored.
func TestAgentsRegisterManifestRefused(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	entry := writeFile(t, "entry.json", `{"name":"plain","type":"worker","endpoint":"http://localhost:9001"}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"--endpoint with a JSON agent", []string{"-f", entry, "--endpoint", "http://x"}, 2,
			"--endpoint goes with -f only for an OSSA manifest; " + entry + " is a JSON agent"},
		{"--name with a manifest", []string{"-f", "../../examples/agents/fetcher.ossa.yaml", "--name", "x"}, 2,
			"-f cannot be combined with --name"},
		{"a Workflow", []string{"-f", "../../examples/workflows/review-pipeline.ossa.yaml"}, 1,
			`ossa: 422 Unprocessable Entity: the Agent manifest is not valid (/kind: must be Agent here, not "Workflow")`},
		{"an invalid manifest", []string{"-f", writeFile(t, "bad.yaml", "apiVersion: ossa/v0.4.6\nkind: Agent\nmetadata: {name: Bad_Name}\nspec: {role: x}\n")}, 1,
			"ossa: 422 Unprocessable Entity: the Agent manifest is not valid (/metadata/name: "},
		{"a bad endpoint", []string{"-f", "../../examples/agents/fetcher.ossa.yaml", "--endpoint", "ftp://x"}, 1,
			"ossa: 422 Unprocessable Entity: the agent the manifest describes cannot be registered (endpoint: "},
		{"YAML that is no manifest", []string{"-f", writeFile(t, "agent.yaml", "name: plain\ntype: worker\n")}, 1,
			"agent.yaml is not an OSSA manifest (it has no apiVersion or kind); an agent without one is written in JSON"},
		{"several documents", []string{"-f", writeFile(t, "two.yaml", "apiVersion: ossa/v0.4.6\nkind: Agent\n---\napiVersion: ossa/v0.4.6\nkind: Agent\n")}, 1,
			"two.yaml holds 2 YAML documents: register one manifest at a time"},
		{"YAML that cannot be read", []string{"-f", writeFile(t, "broken.yaml", "kind: [\n")}, 1, "broken.yaml:"},
		{"JSON that cannot be read", []string{"-f", writeFile(t, "broken.json", `{"name":`)}, 1, "broken.json: unexpected EOF"},
	}
	for _, tt := range tests {
		code, out, errOut := agentsCmd(t, server, append([]string{"register"}, tt.args...)...)
		if code != tt.code || out != "" || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.name, code, out, errOut, tt.code, tt.stderr)
		}
		if tt.code == 1 && strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: stderr is not one line: %q", tt.name, errOut)
		}
	}
	code, out, _ := agentsCmd(t, server, "list", "--output", "json")
	var l ohttp.AgentList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Items) != 0 {
		t.Fatalf("after refusals: exit %d, %v:\n%s", code, err, out)
	}
}

// TestAgentsShowHealth checks the health agents list and get show, as
// calls through the gateway found it: a refused call makes an agent
// unhealthy, an answered one healthy.
func TestAgentsShowHealth(t *testing.T) {
	t.Parallel()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"output":"ok"}`)
	}))
	t.Cleanup(agent.Close)
	server := startAgentsGateway(t)
	if code, _, errOut := agentsCmd(t, server, "register", "--name", "up", "--endpoint", agent.URL); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := agentsCmd(t, server, "register", "--name", "down", "--endpoint", "http://127.0.0.1:1"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := ossaCmd(server, "execute", "up"); code != 0 {
		t.Fatalf("execute up: %s", errOut)
	}
	if code, _, _ := ossaCmd(server, "execute", "down"); code != 1 {
		t.Fatalf("execute down: exit %d", code)
	}

	code, out, errOut := agentsCmd(t, server, "list")
	rows := fields(out)
	if code != 0 || len(rows) != 3 || rows[1][0] != "up" || rows[1][3] != "healthy" || rows[2][0] != "down" || rows[2][3] != "unhealthy" {
		t.Fatalf("list: exit %d, stderr %q:\n%s", code, errOut, out)
	}

	_, out, _ = agentsCmd(t, server, "get", "up")
	if line := lineWith(out, "Health:"); !strings.HasPrefix(line, "Health:        healthy (checked 20") || !strings.HasSuffix(line, ")") {
		t.Errorf("get up: %q", line)
	}
	_, out, _ = agentsCmd(t, server, "get", "down")
	if line := lineWith(out, "Health:"); !strings.HasPrefix(line, "Health:        unhealthy: ") || !strings.Contains(line, "refused") ||
		!strings.Contains(line, " (checked 20") {
		t.Errorf("get down: %q", line)
	}
}

// lineWith is the first line of out that starts with prefix.
func lineWith(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
