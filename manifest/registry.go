package manifest

import (
	"net/url"
	"strings"

	"github.com/ossa-platform/platform"
)

// agentEndpoint returns the first absolute http(s) URL an Agent manifest
// gives for reaching the agent, or "", and the protocol spoken there:
// spec.endpoint and the runtime's endpoint speak http; a protocol entry
// speaks a2a when it is named so; the A2A members speak a2a.
//
// spec.extensions.a2a.endpoints has two forms. As an object (http, grpc,
// websocket) it gives the agent's own transports. As a list it names the
// peer agents this one talks to, each by agentId ("@security-scanner"):
// an entry there is the agent's own endpoint only when its agentId names
// the agent itself; an entry naming another agent, or none, is never used.
func agentEndpoint(root *Node) (endpoint, protocol string) {
	type candidate struct {
		node     *Node
		protocol string
	}
	spec := root.Get("spec")
	candidates := []candidate{
		{spec.Get("endpoint"), platform.ProtocolHTTP},
		{spec.Get("runtime").Get("endpoint"), platform.ProtocolHTTP},
		{root.Get("runtime").Get("endpoint"), platform.ProtocolHTTP},
	}
	for _, p := range spec.Get("protocols").Get("supported").items() {
		proto := platform.ProtocolHTTP
		if strings.EqualFold(p.Get("name").Str(), "a2a") {
			proto = platform.ProtocolA2A
		}
		candidates = append(candidates, candidate{p.Get("endpoint"), proto})
	}
	candidates = append(candidates, candidate{root.Get("protocols").Get("a2a").Get("endpoint"), platform.ProtocolA2A})
	a2a := spec.Get("extensions").Get("a2a").Get("endpoints")
	if a2a.kind() == Object {
		candidates = append(candidates, candidate{a2a.Get("http"), platform.ProtocolA2A})
	}
	self := root.Get("metadata").Get("name").Str()
	for _, e := range a2a.items() {
		if namesAgent(e.Get("agentId").Str(), self) {
			candidates = append(candidates, candidate{e.Get("url"), platform.ProtocolA2A})
		}
	}
	for _, c := range candidates {
		if s := c.node.Str(); isHTTPURL(s) {
			return s, c.protocol
		}
	}
	return "", platform.ProtocolHTTP
}

// namesAgent reports whether an A2A agentId ("@name" or "name") names the
// agent called name.
func namesAgent(agentID, name string) bool {
	return name != "" && strings.TrimPrefix(agentID, "@") == name
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.Contains(s, "${")
}
