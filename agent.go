package platform

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultNamespace is the namespace a request acts in while authentication
// is off and it names none (see AllowAll), and the namespace of what a
// store is given without one.
const DefaultNamespace = "default"

// AgentType is the role an agent plays, as the guide names them.
type AgentType string

// Agent types.
const (
	AgentOrchestrator AgentType = "orchestrator"
	AgentWorker       AgentType = "worker"
	AgentMonitor      AgentType = "monitor"
)

// AgentTypes lists every valid AgentType.
var AgentTypes = []AgentType{AgentOrchestrator, AgentWorker, AgentMonitor}

// AgentStatus is the administrative state of an agent: an inactive agent
// stays registered but is never chosen to run work.
type AgentStatus string

// Agent statuses.
const (
	AgentActive   AgentStatus = "active"
	AgentInactive AgentStatus = "inactive"
)

// AgentStatuses lists every valid AgentStatus.
var AgentStatuses = []AgentStatus{AgentActive, AgentInactive}

// Agent is a registered agent: what it is called, what it can do and where
// it listens.
type Agent struct {
	ID           string            `json:"id"`
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Type         AgentType         `json:"type"`
	Capabilities []string          `json:"capabilities"`
	Endpoint     string            `json:"endpoint"`
	Description  string            `json:"description,omitempty"`
	Version      string            `json:"version,omitempty"`
	Labels       map[string]string `json:"labels"`
	// Metadata is a JSON object kept verbatim.
	Metadata json.RawMessage `json:"metadata"`
	Status   AgentStatus     `json:"status"`
	// Protocol is how the gateway calls the agent: "http" (the default) or
	// "a2a".
	Protocol string `json:"protocol"`
	// Auth, when set, is how the gateway authenticates to the agent: a
	// header carrying a secret of the agent's namespace.
	Auth *AgentAuth `json:"auth,omitempty"`
	// Health is what probes and calls last found; read-only.
	Health AgentHealth `json:"health"`
	// APIVersion is the OSSA apiVersion of the manifest the agent was
	// registered from, "" when it was registered without one.
	APIVersion string `json:"api_version,omitempty"`
	// Manifest is that manifest, verbatim, served by its own route.
	Manifest  *ManifestSource `json:"-"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ManifestSource is an OSSA manifest exactly as it was submitted.
type ManifestSource struct {
	// Format is "yaml" or "json".
	Format string
	Body   []byte
}

// Field limits for agents.
const (
	MaxNameLen        = 63
	MaxCapabilities   = 256
	MaxCapabilityLen  = 128
	MaxDescriptionLen = 4096
	MaxVersionLen     = 64
	MaxLabels         = 64
	MaxLabelKeyLen    = 63
	MaxLabelValueLen  = 63
	MaxEndpointLen    = 2048
)

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	capabilityRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)
	labelKeyRe   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$`)
	uuidRe       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	labelValueRe = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
)

// ValidName reports whether name is a DNS-1123 label: at most 63 lower-case
// letters, digits and '-', starting and ending with a letter or digit.
func ValidName(name string) bool {
	return len(name) <= MaxNameLen && dns1123Label.MatchString(name)
}

// Normalize fills the defaults of the fields a caller may leave out.
func (a *Agent) Normalize() {
	if a.Namespace == "" {
		a.Namespace = DefaultNamespace
	}
	if a.Status == "" {
		a.Status = AgentActive
	}
	if a.Protocol == "" {
		a.Protocol = ProtocolHTTP
	}
	if a.Health.Status == "" {
		a.Health.Status = HealthUnknown
	}
	if a.Capabilities == nil {
		a.Capabilities = []string{}
	}
	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	if len(a.Metadata) == 0 || string(a.Metadata) == "null" {
		a.Metadata = json.RawMessage(`{}`)
	}
	if a.Auth != nil && a.Auth.Header == "" {
		a.Auth.Header = DefaultAuthHeader
	}
}

// Validate reports every problem with the caller-settable fields of a, each
// with the JSON pointer of its field. An empty endpoint is allowed here:
// whether one is required is the caller's decision.
func (a *Agent) Validate() error {
	var p Problems
	switch {
	case a.Name == "":
		p.Add("/name", "is required")
	case !ValidName(a.Name):
		p.Add("/name", "must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
	case LooksLikeID(a.Name):
		p.Add("/name", "must not have the form of a UUID, which would be ambiguous with agent IDs")
	case slices.Contains(ReservedAgentNames, a.Name):
		p.Add("/name", "%q is reserved: GET /api/v1/agents/%s is a route of its own", a.Name, a.Name)
	}
	if !a.Type.Valid() {
		p.Add("/type", "must be one of %s", QuoteList(AgentTypes))
	}
	if !a.Status.Valid() {
		p.Add("/status", "must be one of %s", QuoteList(AgentStatuses))
	}
	if a.Protocol != "" && !slices.Contains(Protocols, a.Protocol) {
		p.Add("/protocol", "must be one of %s", QuoteList(Protocols))
	}
	if len(a.Capabilities) > MaxCapabilities {
		p.Add("/capabilities", "must have at most %d entries", MaxCapabilities)
	}
	seen := make(map[string]bool, len(a.Capabilities))
	for i, c := range a.Capabilities {
		field := "/capabilities/" + itoa(i)
		switch {
		case c == "":
			p.Add(field, "must not be empty")
		case len(c) > MaxCapabilityLen:
			p.Add(field, "must be at most %d characters", MaxCapabilityLen)
		case !capabilityRe.MatchString(c):
			p.Add(field, "must start with a letter or digit and hold only letters, digits and '_.:/-'")
		case seen[c]:
			p.Add(field, "duplicates capability %q", c)
		}
		seen[c] = true
	}
	if a.Endpoint != "" {
		if msg := checkEndpoint(a.Endpoint); msg != "" {
			p.Add("/endpoint", "%s", msg)
		}
	}
	if len(a.Description) > MaxDescriptionLen {
		p.Add("/description", "must be at most %d characters", MaxDescriptionLen)
	}
	if len(a.Version) > MaxVersionLen {
		p.Add("/version", "must be at most %d characters", MaxVersionLen)
	}
	if len(a.Labels) > MaxLabels {
		p.Add("/labels", "must have at most %d entries", MaxLabels)
	}
	for _, k := range sortedKeys(a.Labels) {
		field := "/labels/" + EscapePointer(k)
		if len(k) > MaxLabelKeyLen || !labelKeyRe.MatchString(k) {
			p.Add(field, "key must be at most %d letters, digits and '-_./', starting and ending with a letter or digit", MaxLabelKeyLen)
		}
		if v := a.Labels[k]; len(v) > MaxLabelValueLen || !labelValueRe.MatchString(v) {
			p.Add(field, "value must be empty or at most %d letters, digits and '-_.', starting and ending with a letter or digit", MaxLabelValueLen)
		}
	}
	if len(a.Metadata) > 0 && !isJSONObject(a.Metadata) {
		p.Add("/metadata", "must be a JSON object")
	}
	if a.Auth != nil {
		a.Auth.validate(&p)
	}
	return p.Err("the agent is not valid")
}

// ReservedAgentNames are the names an agent may not take, for a route
// under /api/v1/agents/ has them: GET /api/v1/agents/search.
var ReservedAgentNames = []string{"search"}

// LooksLikeID reports whether s has the 8-4-4-4-12 form of a UUID.
func LooksLikeID(s string) bool { return uuidRe.MatchString(s) }

// checkEndpoint returns why s is not an absolute http(s) URL, or "".
func checkEndpoint(s string) string {
	if len(s) > MaxEndpointLen {
		return "must be at most " + itoa(MaxEndpointLen) + " characters"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "must be an absolute http or https URL without credentials"
	}
	return ""
}

// AgentFilter selects agents. Zero fields match everything but Namespace,
// which is one namespace, or AllNamespaces.
type AgentFilter struct {
	Namespace  string
	Type       AgentType
	Capability string
	Status     AgentStatus
	// Labels must all be present with these values.
	Labels map[string]string
	// After is the ID of the last agent of the previous page.
	After string
	// Limit is the page size, 1 to MaxPageSize.
	Limit int
}

// Page sizes for list endpoints.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// AgentPage is one page of agents in ID order (IDs increase with creation
// time). Next is the ID to pass as After for the next page, "" at the end.
type AgentPage struct {
	Items []*Agent
	Next  string
}

// AgentCount is the number of agents of one type and status.
type AgentCount struct {
	Type   AgentType
	Status AgentStatus
	Count  int
}

// AgentStore keeps agents. Every method that changes state runs in one
// transaction of the store. ref is an agent's ID or its name.
type AgentStore interface {
	// CreateAgent stores a, setting its ID and timestamps. A name already
	// taken in the namespace is ECONFLICT.
	CreateAgent(ctx context.Context, a *Agent) error
	// FindAgent returns the agent with that ID or name, or ENOTFOUND.
	FindAgent(ctx context.Context, namespace, ref string) (*Agent, error)
	// ListAgents returns one page of the agents that match f.
	ListAgents(ctx context.Context, f AgentFilter) (AgentPage, error)
	// UpdateAgent reads the agent, lets update change it, and writes it back
	// in one transaction; an error from update aborts the change. Renaming
	// onto a taken name is ECONFLICT.
	UpdateAgent(ctx context.Context, namespace, ref string, update func(*Agent) error) (*Agent, error)
	// DeleteAgent removes the agent, or returns ENOTFOUND.
	DeleteAgent(ctx context.Context, namespace, ref string) error
	// SetAgentHealth records an agent's health by ID without touching
	// UpdatedAt, or returns ENOTFOUND.
	SetAgentHealth(ctx context.Context, id string, h AgentHealth) error
	// CountAgents counts agents by type and status across namespaces.
	CountAgents(ctx context.Context) ([]AgentCount, error)
}

// Database is the health side of a store.
type Database interface {
	// Backend names the technology: "sqlite" or "postgres".
	Backend() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Ready checks that the database answers and every migration is applied.
	Ready(ctx context.Context) error
}

// Valid reports whether t is one of AgentTypes.
func (t AgentType) Valid() bool { return slices.Contains(AgentTypes, t) }

// Valid reports whether s is one of AgentStatuses.
func (s AgentStatus) Valid() bool { return slices.Contains(AgentStatuses, s) }

// QuoteList renders values as 'a', 'b', 'c' for error messages.
func QuoteList[T ~string](all []T) string {
	q := make([]string, len(all))
	for i, v := range all {
		q[i] = "'" + string(v) + "'"
	}
	return strings.Join(q, ", ")
}
