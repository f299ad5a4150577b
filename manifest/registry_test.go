package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
)

// TestPeerEndpoints checks that the peers an agent's
// spec.extensions.a2a.endpoints list names never become its own endpoint,
// and that an entry naming the agent itself, or the object form, does.
func TestPeerEndpoints(t *testing.T) {
	data, err := os.ReadFile("testdata/a2a-peers.ossa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Parse("a2a-peers.ossa.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ endpoint, protocol string }{
		{"", platform.ProtocolHTTP},
		{"http://dispatcher.internal:8080/a2a", platform.ProtocolA2A},
		{"https://dispatcher.example.com/a2a", platform.ProtocolA2A},
	}
	if len(docs) != len(want) {
		t.Fatalf("%d documents, want %d", len(docs), len(want))
	}
	for i, d := range docs {
		if r := Validate(d); !r.SchemaValid() {
			t.Fatalf("document %d is not schema-valid: %+v", i, r.Diagnostics)
		}
		a := RegistryAgent(d)
		if a.Endpoint != want[i].endpoint || a.Protocol != want[i].protocol {
			t.Errorf("document %d: endpoint %q protocol %q, want %q %q", i, a.Endpoint, a.Protocol, want[i].endpoint, want[i].protocol)
		}
	}
	// Without an endpoint of its own, the agent draws the warning.
	if !hasCode(Validate(docs[0]).Diagnostics, CodeNoLLMNoEndpoint) {
		t.Error("an agent with only peers' endpoints has no no-llm-no-endpoint warning")
	}
	if hasCode(Validate(docs[1]).Diagnostics, CodeNoLLMNoEndpoint) {
		t.Error("an agent whose entry names itself is warned it has no endpoint")
	}
}

func hasCode(ds []Diagnostic, code string) bool {
	for _, d := range ds {
		if d.Code == code {
			return true
		}
	}
	return false
}

// TestNoPeerEndpointCorpus checks every Agent document of the OSSA corpus:
// the endpoint registering it gives is never one of the peer URLs its
// spec.extensions.a2a.endpoints list names (distributed-coordinator's
// list names @security-scanner at http://security-scanner:8080/a2a).
func TestNoPeerEndpointCorpus(t *testing.T) {
	checked, withPeers := 0, 0
	seen := map[string]bool{}
	for _, v := range readVerdicts(t) {
		if v.kind != "Agent" || seen[v.path] {
			continue
		}
		seen[v.path] = true
		data, err := os.ReadFile(filepath.Join(corpusDir, v.path))
		if err != nil {
			t.Fatal(err)
		}
		docs, _ := Parse(v.path, data)
		for _, d := range docs {
			if d.Kind() != "Agent" {
				continue
			}
			checked++
			self := d.Root.Get("metadata").Get("name").Str()
			peers := map[string]string{}
			for _, e := range d.Root.Get("spec").Get("extensions").Get("a2a").Get("endpoints").items() {
				if id := e.Get("agentId").Str(); strings.TrimPrefix(id, "@") != self || self == "" {
					peers[e.Get("url").Str()] = id
				}
			}
			if len(peers) > 0 {
				withPeers++
			}
			if a := RegistryAgent(d); a.Endpoint != "" {
				if id, ok := peers[a.Endpoint]; ok {
					t.Errorf("%s #%d: agent %q registered at %s, the URL of peer %q", v.path, d.Index, self, a.Endpoint, id)
				}
			}
		}
	}
	if withPeers == 0 {
		t.Fatalf("none of the %d corpus agents lists peers: the test checks nothing", checked)
	}
	t.Logf("%d agents, %d with peer endpoints", checked, withPeers)
}
