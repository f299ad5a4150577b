package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDecodeCorpus decodes every schema-valid document of the OSSA corpus
// into its typed view and checks the members every kind has.
func TestDecodeCorpus(t *testing.T) {
	verdicts := readVerdicts(t)
	kinds := map[string]int{}
	for _, v := range verdicts {
		if v.result != "valid" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(corpusDir, v.path))
		if err != nil {
			t.Fatal(err)
		}
		docs, err := Parse(v.path, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if d.Index != v.doc {
				continue
			}
			typed, err := d.Decode()
			if v.kind != "Agent" && v.kind != "Workflow" && v.kind != "Task" && v.kind != "Flow" && v.kind != "AgentTest" {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", v.path, err)
			}
			kinds[v.kind]++
			switch m := typed.(type) {
			case *Agent:
				if m.Metadata.Name == "" && m.APIVersion != "" {
					t.Errorf("%s: agent without a name", v.path)
				}
			case *Workflow:
				if m.Metadata.Name == "" || len(m.Spec.Steps) == 0 || m.Spec.Steps[0].ID == "" {
					t.Errorf("%s: workflow decoded without name or steps: %+v", v.path, m)
				}
			case *Task:
				if m.Metadata.Name == "" {
					t.Errorf("%s: task without a name", v.path)
				}
			}
		}
	}
	t.Logf("decoded: %v", kinds)
}

func TestDecodeEras(t *testing.T) {
	src := `apiVersion: "@bluefly/ossa/v0.1.9"
kind: Agent
metadata: {name: era}
spec:
  type: orchestrator
  capabilities:
    domains: [nlp]
    operations: [{name: summarize}, translate]
  protocols:
    supported:
      - {name: http, endpoint: "http://localhost:7000/run"}
`
	docs, _ := Parse("era.yaml", []byte(src))
	v, _ := docs[0].Decode()
	a := v.(*Agent)
	if a.Spec.Type != "orchestrator" || a.Spec.Capabilities.Domains[0] != "nlp" ||
		len(a.Spec.Capabilities.Operations) != 2 || a.Spec.Protocols.Supported[0].Endpoint != "http://localhost:7000/run" {
		t.Fatalf("v0.1.9 agent: %+v", a.Spec)
	}
	reg := RegistryAgent(docs[0])
	if reg.Type != "orchestrator" || reg.Endpoint != "http://localhost:7000/run" || len(reg.Capabilities) != 2 {
		t.Fatalf("registry entry: %+v", reg)
	}
}

func TestRegistryAgentProtocol(t *testing.T) {
	cases := []struct{ src, endpoint, protocol string }{
		{"apiVersion: ossa/v0.4.6\nkind: Agent\nmetadata: {name: a}\nspec: {role: r, endpoint: 'http://h/run'}\n", "http://h/run", "http"},
		{"apiVersion: ossa/v0.1.9\nkind: Agent\nmetadata: {name: a}\nspec:\n  protocols:\n    supported:\n      - {name: a2a, endpoint: 'http://h/a2a'}\n", "http://h/a2a", "a2a"},
		{"apiVersion: ossa/v0.4.6\nkind: Agent\nmetadata: {name: a}\nspec:\n  role: r\n  extensions:\n    a2a:\n      endpoints: [{agentId: '@a', url: 'https://h/rpc'}]\n", "https://h/rpc", "a2a"},
		{"apiVersion: ossa/v0.4.6\nkind: Agent\nmetadata: {name: a}\nspec: {role: r}\n", "", "http"},
	}
	for i, c := range cases {
		docs, err := Parse("agent.yaml", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		a := RegistryAgent(docs[0])
		if a.Endpoint != c.endpoint || a.Protocol != c.protocol {
			t.Errorf("case %d: endpoint %q protocol %q, want %q %q", i, a.Endpoint, a.Protocol, c.endpoint, c.protocol)
		}
	}
}
