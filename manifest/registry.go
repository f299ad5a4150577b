package manifest

import (
	"net/url"
	"strings"
)

// agentEndpoint returns the first absolute http(s) URL an Agent manifest
// gives for reaching the agent, or "": spec.endpoint, the runtime's
// endpoint, an http/a2a protocol's endpoint, or an A2A endpoint of the
// extensions.
func agentEndpoint(root *Node) string {
	spec := root.Get("spec")
	candidates := []*Node{
		spec.Get("endpoint"),
		spec.Get("runtime").Get("endpoint"),
		root.Get("runtime").Get("endpoint"),
	}
	for _, p := range spec.Get("protocols").Get("supported").items() {
		candidates = append(candidates, p.Get("endpoint"))
	}
	candidates = append(candidates, root.Get("protocols").Get("a2a").Get("endpoint"))
	for _, e := range spec.Get("extensions").Get("a2a").Get("endpoints").items() {
		candidates = append(candidates, e.Get("url"))
	}
	for _, c := range candidates {
		if s := c.Str(); isHTTPURL(s) {
			return s
		}
	}
	return ""
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && !strings.Contains(s, "${")
}
