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
	for _, e := range spec.Get("extensions").Get("a2a").Get("endpoints").items() {
		candidates = append(candidates, candidate{e.Get("url"), platform.ProtocolA2A})
	}
	for _, c := range candidates {
		if s := c.node.Str(); isHTTPURL(s) {
			return s, c.protocol
		}
	}
	return "", platform.ProtocolHTTP
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.Contains(s, "${")
}
