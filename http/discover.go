package http

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ossa-platform/platform"
)

func (s *Server) registerDiscoveryRoutes() {
	s.handle("GET /api/v1/agents/search", platform.ScopeAgentsRead, s.handleAgentSearch)
	s.handle("POST /api/v1/discover", platform.ScopeAgentsRead, s.handleDiscover)
	s.handle("POST /api/v1/discover/reindex", platform.ScopeAdmin, s.handleReindex)
}

// Reindexer re-indexes every agent for discovery, in the background.
type Reindexer interface {
	// StartReindex starts it, unless one runs, and returns how many
	// agents it will index.
	StartReindex(ctx context.Context) (int, error)
}

// ReindexStarted is the answer to POST /api/v1/discover/reindex.
type ReindexStarted struct {
	// Agents is how many agents the re-index embeds.
	Agents int `json:"agents"`
}

// handleReindex handles "POST /api/v1/discover/reindex": every agent of
// every namespace embedded and indexed again, in the background (202);
// the log and ossa_discovery_index_* say how far it got.
func (s *Server) handleReindex(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	if s.Reindexer == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "agent discovery has no vector index on this gateway to re-index")
	}
	n, err := s.Reindexer.StartReindex(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, ReindexStarted{Agents: n})
}

// DefaultDiscoveryLimit is how many agents a search returns by default.
const DefaultDiscoveryLimit = 10

// DiscoverInput is the body of POST /api/v1/discover.
type DiscoverInput struct {
	// Query says in words what the agent should do.
	Query      string               `json:"query"`
	Limit      int                  `json:"limit,omitempty"`
	Type       platform.AgentType   `json:"type,omitempty"`
	Status     platform.AgentStatus `json:"status,omitempty"`
	Capability string               `json:"capability,omitempty"`
	Labels     map[string]string    `json:"labels,omitempty"`
}

// DiscoveryResult is the answer of both discovery routes: the agents,
// best first.
type DiscoveryResult struct {
	Items []platform.Discovered `json:"items"`
}

var agentSearchParams = []string{"q", "limit", "type", "status", "capability", "label"}

// handleAgentSearch handles "GET /api/v1/agents/search?q=...": the agents
// of the request's namespace that best fit q, ranked.
func (s *Server) handleAgentSearch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := onlyParams(q, agentSearchParams...); err != nil {
		return err
	}
	// The filters read as GET /api/v1/agents reads them.
	f, err := parseAgentFilter(namespace(r), url.Values{"type": q["type"], "status": q["status"],
		"capability": q["capability"], "label": q["label"]})
	if err != nil {
		return err
	}
	dq := platform.DiscoveryQuery{Text: q.Get("q"), Limit: DefaultDiscoveryLimit, Type: f.Type, Status: f.Status,
		Capability: f.Capability, Labels: f.Labels}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1
		}
		dq.Limit = n
	}
	return s.discover(w, r, dq)
}

// handleDiscover handles "POST /api/v1/discover": GET
// /api/v1/agents/search with a JSON body.
func (s *Server) handleDiscover(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	var in DiscoverInput
	_, problems, err := decodeObject(body, &in)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &platform.Error{Code: platform.EINVALID, Message: "the discovery query is not valid", Fields: problems}
	}
	dq := platform.DiscoveryQuery{Text: in.Query, Limit: in.Limit, Type: in.Type, Status: in.Status,
		Capability: in.Capability, Labels: in.Labels}
	if dq.Limit == 0 {
		dq.Limit = DefaultDiscoveryLimit
	}
	return s.discover(w, r, dq, "/query")
}

// discover runs dq in the request's namespace. A problem's fields are
// named as the route names them: the query parameters, or the body's
// members (under prefix, for the text).
func (s *Server) discover(w http.ResponseWriter, r *http.Request, dq platform.DiscoveryQuery, textField ...string) error {
	if s.Discovery == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "agent discovery is not enabled on this gateway")
	}
	dq.Namespaces = []string{namespace(r)}
	if err := dq.Validate(); err != nil {
		if e, ok := err.(*platform.Error); ok && len(textField) > 0 { //nolint:errorlint // Validate returns *platform.Error itself
			for i := range e.Fields {
				if e.Fields[i].Field == "q" {
					e.Fields[i].Field = textField[0]
				} else {
					e.Fields[i].Field = "/" + e.Fields[i].Field
				}
			}
		}
		return err
	}
	found, err := s.Discovery.Discover(r.Context(), dq)
	if err != nil {
		return err
	}
	if found == nil {
		found = []platform.Discovered{}
	}
	return writeJSON(w, http.StatusOK, DiscoveryResult{Items: found})
}
