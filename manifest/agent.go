package manifest

import (
	"regexp"
	"strings"

	"github.com/ossa-platform/platform"
)

// agentTypes maps the roles OSSA releases name to the registry's three
// agent types; a role not listed is a worker.
var agentTypes = map[string]platform.AgentType{
	"orchestrator": platform.AgentOrchestrator,
	"supervisor":   platform.AgentOrchestrator,
	"coordinator":  platform.AgentOrchestrator,
	"governor":     platform.AgentOrchestrator,
	"router":       platform.AgentOrchestrator,
	"monitor":      platform.AgentMonitor,
	"observer":     platform.AgentMonitor,
	"auditor":      platform.AgentMonitor,
	"worker":       platform.AgentWorker,
}

// TypeLabel is the label that may name an agent's registry type.
const TypeLabel = "ossa.dev/agent-type"

var capabilityRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)

// RegistryAgent derives the registry entry of an Agent manifest: its name,
// type (metadata.agentKind, the v0.1.9-era spec.type, or the TypeLabel
// label; worker by default), capabilities (spec.capabilities, tool names,
// v0.1.9 operations), endpoint and protocol (from the manifest's protocols,
// runtime or endpoint members; "" and http when it has none), version, description and labels.
// Values the registry cannot hold (a label that is not a label, a
// capability with spaces) are left out; the manifest itself is kept whole.
func RegistryAgent(doc *Document) *platform.Agent {
	v, _ := doc.Decode()
	m, _ := v.(*Agent)
	if m == nil {
		m = &Agent{}
	}
	endpoint, protocol := agentEndpoint(doc.Root)
	a := &platform.Agent{
		Name:        m.Metadata.Name,
		Type:        platform.AgentWorker,
		Endpoint:    endpoint,
		Protocol:    protocol,
		Description: platform.Truncate(m.Metadata.Description, platform.MaxDescriptionLen),
		Version:     platform.Truncate(m.Metadata.Version, platform.MaxVersionLen),
		Labels:      map[string]string{},
		APIVersion:  doc.APIVersion(),
	}
	for _, role := range []string{m.Metadata.AgentKind, m.Spec.Type, m.Metadata.Labels[TypeLabel]} {
		if t, ok := agentTypes[strings.ToLower(role)]; ok {
			a.Type = t
			break
		}
	}
	seen := map[string]bool{}
	addCap := func(c string) {
		if capabilityRe.MatchString(c) && len(c) <= platform.MaxCapabilityLen && !seen[c] && len(a.Capabilities) < platform.MaxCapabilities {
			seen[c] = true
			a.Capabilities = append(a.Capabilities, c)
		}
	}
	for _, c := range m.Spec.Capabilities.Names {
		addCap(c)
	}
	for _, c := range m.Spec.Capabilities.Operations {
		addCap(c)
	}
	for _, t := range m.Spec.Tools {
		addCap(t.Name)
	}
	for k, v := range m.Metadata.Labels {
		probe := platform.Agent{Name: "x", Type: platform.AgentWorker, Status: platform.AgentActive, Labels: map[string]string{k: v}}
		if probe.Validate() == nil {
			a.Labels[k] = v
		}
	}
	a.Normalize()
	return a
}
