package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

func (s *Server) registerAgentRoutes() {
	s.handle("POST /api/v1/agents", platform.ScopeAgentsWrite, s.handleAgentCreate)
	s.handle("GET /api/v1/agents", platform.ScopeAgentsRead, s.handleAgentList)
	s.handle("GET /api/v1/agents/{ref}", platform.ScopeAgentsRead, s.handleAgentGet)
	s.handle("PUT /api/v1/agents/{ref}", platform.ScopeAgentsWrite, s.handleAgentReplace)
	s.handle("PATCH /api/v1/agents/{ref}", platform.ScopeAgentsWrite, s.handleAgentPatch)
	s.handle("DELETE /api/v1/agents/{ref}", platform.ScopeAgentsWrite, s.handleAgentDelete)
}

// AgentInput is the writable part of an agent: the body of POST and PUT,
// and what a PATCH merges into. Read-only members of Agent (id, namespace,
// created_at, updated_at, health) are accepted and ignored, so that a fetched agent
// can be sent back.
type AgentInput struct {
	Name         string               `json:"name"`
	Type         platform.AgentType   `json:"type"`
	Capabilities []string             `json:"capabilities"`
	Endpoint     string               `json:"endpoint"`
	Description  string               `json:"description,omitempty"`
	Version      string               `json:"version,omitempty"`
	Labels       map[string]string    `json:"labels,omitempty"`
	Metadata     json.RawMessage      `json:"metadata,omitempty"`
	Status       platform.AgentStatus `json:"status,omitempty"`
	Protocol     string               `json:"protocol,omitempty"`
	Auth         *platform.AgentAuth  `json:"auth,omitempty"`

	ID        json.RawMessage `json:"id,omitempty"`
	Namespace json.RawMessage `json:"namespace,omitempty"`
	CreatedAt json.RawMessage `json:"created_at,omitempty"`
	UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
	Health    json.RawMessage `json:"health,omitempty"`
}

// requiredAgentFields must be present in a POST or PUT body.
var requiredAgentFields = []string{"name", "type", "endpoint"}

// apply copies the input onto a, normalized.
func (in *AgentInput) apply(a *platform.Agent) {
	a.Name, a.Type, a.Capabilities, a.Endpoint = in.Name, in.Type, in.Capabilities, in.Endpoint
	a.Description, a.Version, a.Labels, a.Metadata, a.Status = in.Description, in.Version, in.Labels, in.Metadata, in.Status
	a.Protocol = in.Protocol
	a.Auth = nil
	if in.Auth != nil {
		auth := *in.Auth
		a.Auth = &auth
	}
	a.Normalize()
}

func inputOf(a *platform.Agent) AgentInput {
	return AgentInput{Name: a.Name, Type: a.Type, Capabilities: a.Capabilities, Endpoint: a.Endpoint,
		Description: a.Description, Version: a.Version, Labels: a.Labels, Metadata: a.Metadata, Status: a.Status, Protocol: a.Protocol, Auth: a.Auth}
}

// decodeAgent reads an agent body into a fresh agent, reporting every
// problem at once: type errors, missing fields and invalid values.
func decodeAgent(body []byte, required []string) (*platform.Agent, error) {
	var in AgentInput
	present, problems, err := decodeObject(body, &in)
	if err != nil {
		return nil, err
	}
	a := &platform.Agent{}
	in.apply(a)
	empty := map[string]bool{"name": a.Name == "", "type": a.Type == "", "endpoint": a.Endpoint == ""}
	for _, f := range required {
		if !present[f] || empty[f] {
			problems.Add("/"+f, "is required")
		}
	}
	if err := a.Validate(); err != nil {
		var e *platform.Error
		errors.As(err, &e)
		for _, f := range e.Fields {
			if !hasField(problems, f.Field) {
				problems = append(problems, f)
			}
		}
	}
	if err := problems.Err("the agent is not valid"); err != nil {
		return nil, err
	}
	return a, nil
}

func hasField(p platform.Problems, field string) bool {
	for _, f := range p {
		if f.Field == field || strings.HasPrefix(f.Field, field+"/") {
			return true
		}
	}
	return false
}

// handleAgentCreate handles "POST /api/v1/agents": a registry entry as
// JSON, or an OSSA Agent manifest (YAML, or JSON {"manifest": {...}}) from
// which the entry is derived; the optional endpoint query parameter gives a
// manifest's agent an endpoint or overrides the manifest's, and protocol
// (http or a2a) says how to call it when the manifest does not.
func (s *Server) handleAgentCreate(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, append([]string{"application/json"}, yamlTypes...)...)
	if err != nil {
		return err
	}
	fromManifest := isYAML(r) || hasMember(body, "manifest")
	var params []string
	if fromManifest {
		params = []string{"endpoint", "protocol"}
	}
	if err := onlyParams(r.URL.Query(), params...); err != nil {
		return err
	}
	var a *platform.Agent
	if fromManifest {
		q := r.URL.Query()
		a, err = agentFromManifest(body, isYAML(r), q.Get("endpoint"), q.Get("protocol"))
	} else {
		a, err = decodeAgent(body, requiredAgentFields)
	}
	if err != nil {
		return err
	}
	a.Namespace = namespace(r)
	endpointField := "/endpoint"
	if fromManifest {
		endpointField = "endpoint"
	}
	if err := s.checkAgent(r.Context(), a, endpointField); err != nil {
		return err
	}
	if err := s.Agents.CreateAgent(r.Context(), a); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/agents/"+a.ID)
	return writeJSON(w, http.StatusCreated, a)
}

// agentFromManifest validates an Agent manifest and derives its registry
// entry, which keeps the manifest verbatim.
func agentFromManifest(body []byte, yamlBody bool, endpoint, protocol string) (*platform.Agent, error) {
	doc, src, err := decodeManifest(body, yamlBody)
	if err != nil {
		return nil, err
	}
	if _, err := validManifest(doc, "Agent"); err != nil {
		return nil, err
	}
	a := manifest.RegistryAgent(doc)
	a.Manifest = src
	if endpoint != "" {
		a.Endpoint = endpoint
	}
	if protocol != "" {
		a.Protocol = protocol
	}
	if err := a.Validate(); err != nil {
		// Point at where the manifest (or the query) gave the value.
		where := map[string]string{"/name": "/metadata/name", "/endpoint": "endpoint", "/version": "/metadata/version",
			"/description": "/metadata/description", "/protocol": "protocol"}
		var e *platform.Error
		errors.As(err, &e)
		for i, f := range e.Fields {
			if to, ok := where[f.Field]; ok {
				e.Fields[i].Field = to
				if n := doc.Root.At(to); strings.HasPrefix(to, "/") && n != nil {
					e.Fields[i].Line, e.Fields[i].Column = n.Pos.Line, n.Pos.Column
				}
			}
		}
		e.Message = "the agent the manifest describes cannot be registered"
		return nil, e
	}
	return a, nil
}

// hasMember reports whether body is a JSON object with that member.
func hasMember(body []byte, name string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	_, ok := m[name]
	return ok
}

// onlyParams refuses query parameters other than known.
func onlyParams(q url.Values, known ...string) error {
	var p platform.Problems
	for k := range q {
		if !slices.Contains(known, k) {
			p.Add(k, "is not a known query parameter here")
		}
	}
	if len(p) == 0 {
		return nil
	}
	sort.Slice(p, func(i, j int) bool { return p[i].Field < p[j].Field })
	return &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid", Fields: p}
}

// AgentList is the body of GET /api/v1/agents.
type AgentList = Page[*platform.Agent]

// agentListParams are the query parameters GET /api/v1/agents takes.
var agentListParams = []string{"type", "capability", "status", "label", "limit", "cursor"}

// handleAgentList handles "GET /api/v1/agents".
func (s *Server) handleAgentList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseAgentFilter(namespace(r), r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.Agents.ListAgents(r.Context(), f)
	if err != nil {
		return err
	}
	return writePage(w, page.Items, page.Next)
}

func parseAgentFilter(ns string, q url.Values) (platform.AgentFilter, error) {
	f := platform.AgentFilter{Namespace: ns}
	var p platform.Problems
	var unknown []string
	for k := range q {
		if !slices.Contains(agentListParams, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p.Add(k, "is not a known query parameter; known: %s", strings.Join(agentListParams, ", "))
	}
	if v := q.Get("type"); v != "" {
		f.Type = platform.AgentType(v)
		if !f.Type.Valid() {
			p.Add("type", "must be one of %s", platform.QuoteList(platform.AgentTypes))
		}
	}
	if v := q.Get("status"); v != "" {
		f.Status = platform.AgentStatus(v)
		if !f.Status.Valid() {
			p.Add("status", "must be one of %s", platform.QuoteList(platform.AgentStatuses))
		}
	}
	f.Capability = q.Get("capability")
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k == "" {
			p.Add("label", "%q must have the form key:value", l)
			continue
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[k] = v
	}
	f.After, f.Limit = parsePage(q, &p)
	if len(p) > 0 {
		return f, &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid", Fields: p}
	}
	return f, nil
}

// pageOnly reads the query of a list route that takes no parameters but
// limit and cursor.
func pageOnly(q url.Values) (after string, limit int, err error) {
	if err := onlyParams(q, "limit", "cursor"); err != nil {
		return "", 0, err
	}
	var p platform.Problems
	after, limit = parsePage(q, &p)
	if len(p) > 0 {
		return "", 0, &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid", Fields: p}
	}
	return after, limit, nil
}

// parsePage reads the limit and cursor parameters of a list route.
func parsePage(q url.Values, p *platform.Problems) (after string, limit int) {
	limit = platform.DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > platform.MaxPageSize {
			p.Add("limit", "must be a whole number from 1 to %d", platform.MaxPageSize)
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		var ok bool
		if after, ok = decodeCursor(v); !ok {
			p.Add("cursor", "is not a cursor this server gave out")
		}
	}
	return after, limit
}

// Page is the body of every list route: one page of items and the cursor
// that fetches the next page, null on the last.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// writePage writes items, [] when none, as one page whose next page starts
// after the ID next ("" on the last page).
func writePage[T any](w http.ResponseWriter, items []T, next string) error {
	out := Page[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if next != "" {
		c := encodeCursor(next)
		out.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, out)
}

// Cursors are opaque to clients: a version tag and the last ID seen.
const cursorPrefix = "v1:"

func encodeCursor(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + after))
}

func decodeCursor(c string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return "", false
	}
	return strings.TrimPrefix(string(b), cursorPrefix), true
}

// handleAgentGet handles "GET /api/v1/agents/{ref}"; ref is an ID or a name.
func (s *Server) handleAgentGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Agents.FindAgent(r.Context(), namespace(r), r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// handleAgentReplace handles "PUT /api/v1/agents/{ref}": every writable
// field is replaced; an optional one left out is cleared.
func (s *Server) handleAgentReplace(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	in, err := decodeAgent(body, requiredAgentFields)
	if err != nil {
		return err
	}
	in.Namespace = namespace(r)
	if err := s.checkAgent(r.Context(), in, "/endpoint"); err != nil {
		return err
	}
	replacement := inputOf(in)
	a, err := s.Agents.UpdateAgent(r.Context(), namespace(r), r.PathValue("ref"), func(a *platform.Agent) error {
		replacement.apply(a)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// handleAgentPatch handles "PATCH /api/v1/agents/{ref}" with a JSON merge
// patch (RFC 7396): members present replace, null removes, objects merge.
func (s *Server) handleAgentPatch(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, "application/merge-patch+json", "application/json")
	if err != nil {
		return err
	}
	var patch map[string]any
	if err := strictUnmarshal(body, &patch); err != nil {
		return err
	}
	if patch == nil {
		return badBody("", "a merge patch must be a JSON object, not null")
	}
	// Check the patch's own members before touching the stored agent.
	if _, _, err := decodeObject(body, &AgentInput{}); err != nil {
		return err
	}
	ns, ref := namespace(r), r.PathValue("ref")
	// A patch that sets the endpoint or the auth has its result checked
	// first, outside the store's transaction (the check resolves names and
	// reads secrets); the transaction then refuses a result that differs
	// from the one checked, should the agent have changed meanwhile.
	_, setsEndpoint := patch["endpoint"]
	_, setsAuth := patch["auth"]
	var checked *platform.Agent
	if setsEndpoint || setsAuth {
		current, err := s.Agents.FindAgent(r.Context(), ns, ref)
		if err != nil {
			return err
		}
		if checked, err = patched(current, patch); err != nil {
			return err
		}
		checked.Namespace = ns
		if !setsEndpoint {
			checked.Endpoint = ""
		}
		if !setsAuth {
			checked.Auth = nil
		}
		if err := s.checkAgent(r.Context(), checked, "/endpoint"); err != nil {
			return err
		}
	}
	a, err := s.Agents.UpdateAgent(r.Context(), ns, ref, func(a *platform.Agent) error {
		next, err := patched(a, patch)
		if err != nil {
			return err
		}
		if (setsEndpoint && next.Endpoint != checked.Endpoint) || (setsAuth && !sameAuth(next.Auth, checked.Auth)) {
			return platform.Errorf(platform.ECONFLICT, "agent %q changed while the patch was checked; send it again", ref)
		}
		p := inputOf(next)
		p.apply(a)
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// patched returns a with the merge patch applied, as a valid agent.
func patched(a *platform.Agent, patch map[string]any) (*platform.Agent, error) {
	current, err := json.Marshal(inputOf(a))
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := strictUnmarshal(current, &doc); err != nil {
		return nil, err
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return nil, err
	}
	return decodeAgent(merged, requiredAgentFields)
}

func sameAuth(a, b *platform.AgentAuth) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// checkAgent checks what an agent's registration or change needs beyond
// its own fields: that the gateway may call its endpoint (field names it
// in the problem), and that the secret its Auth names exists.
func (s *Server) checkAgent(ctx context.Context, a *platform.Agent, endpointField string) error {
	if err := s.checkEndpoint(ctx, a.Endpoint, endpointField); err != nil {
		return err
	}
	return s.checkAuth(ctx, a.Namespace, a)
}

// mergePatch applies an RFC 7396 merge patch to target.
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			t, _ := target[k].(map[string]any)
			target[k] = mergePatch(t, pv)
		default:
			target[k] = v
		}
	}
	return target
}

// handleAgentDelete handles "DELETE /api/v1/agents/{ref}".
func (s *Server) handleAgentDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Agents.DeleteAgent(r.Context(), namespace(r), r.PathValue("ref")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
