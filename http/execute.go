package http

import (
	"encoding/json"
	"net/http"

	"github.com/ossa-platform/platform"
)

func (s *Server) registerExecuteRoutes() {
	s.handle("POST /api/v1/agents/{ref}/execute", platform.ScopeRunsWrite, s.handleAgentExecute)
}

// handleAgentExecute handles "POST /api/v1/agents/{ref}/execute": one call
// of one agent, outside any workflow, answered with the agent's output.
// Choosing the agent's capability, refusing an inactive agent or one
// without the capability, and mapping the agent's failures (502) and
// silences (504) are the orchestrator's.
func (s *Server) handleAgentExecute(w http.ResponseWriter, r *http.Request) error {
	if err := s.orchestrationReady(); err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	var req platform.ExecuteRequest
	_, problems, err := decodeObject(body, &req)
	if err != nil {
		return err
	}
	if err := problems.Err("the execute request is not valid"); err != nil {
		return err
	}
	if len(req.Input) == 0 {
		req.Input = json.RawMessage("null")
	}
	req.IdempotencyKey = r.Header.Get("Idempotency-Key")
	if len(req.IdempotencyKey) > 255 {
		return &platform.Error{Code: platform.EBADREQUEST, Message: "the Idempotency-Key header is too long",
			Fields: []platform.FieldError{{Field: "Idempotency-Key", Message: "must be at most 255 characters"}}}
	}
	ex, err := s.Orchestrator.Execute(r.Context(), namespace(r), r.PathValue("ref"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ex)
}
