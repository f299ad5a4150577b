package http

import (
	"net/http"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

func (s *Server) registerWorkflowRoutes() {
	s.handle("POST /api/v1/workflows", s.handleWorkflowCreate)
	s.handle("GET /api/v1/workflows", s.handleWorkflowList)
	s.handle("GET /api/v1/workflows/{ref}", s.handleWorkflowGet)
	s.handle("GET /api/v1/workflows/{ref}/manifest", s.handleWorkflowManifest)
	s.handle("DELETE /api/v1/workflows/{ref}", s.handleWorkflowDelete)
}

// handleWorkflowCreate handles "POST /api/v1/workflows": an OSSA Workflow
// manifest (YAML, or JSON, bare or as {"manifest": {...}}), validated with
// the checks beyond the schema (unique step ids, depends_on without a
// cycle, expressions that name real inputs and steps) before it is stored.
func (s *Server) handleWorkflowCreate(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, append([]string{"application/json"}, yamlTypes...)...)
	if err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	doc, src, err := decodeManifest(body, isYAML(r))
	if err != nil {
		return err
	}
	if _, err := validManifest(doc, "Workflow"); err != nil {
		return err
	}
	def, err := doc.Root.MarshalJSON()
	if err != nil {
		return err
	}
	v, _ := doc.Decode()
	m := v.(*manifest.Workflow)
	wf := &platform.Workflow{Namespace: platform.DefaultNamespace, Name: m.Metadata.Name, Version: m.Metadata.Version,
		Description: m.Metadata.Description, APIVersion: doc.APIVersion(), Definition: def, Manifest: src}
	if !platform.ValidName(wf.Name) || platform.LooksLikeID(wf.Name) {
		n := doc.Root.At("/metadata/name")
		return &platform.Error{Code: platform.EINVALID, Message: "the Workflow manifest is not valid", Fields: []platform.FieldError{{
			Field: "/metadata/name", Message: "must be a DNS-1123 label, not of the form of a UUID, to be stored: at most 63 lower-case letters, digits and '-'",
			Line: n.Pos.Line, Column: n.Pos.Column}}}
	}
	if err := s.Workflows.CreateWorkflow(r.Context(), wf); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/workflows/"+wf.ID)
	return writeJSON(w, http.StatusCreated, wf)
}

// WorkflowList is the body of GET /api/v1/workflows.
type WorkflowList struct {
	Items      []*platform.Workflow `json:"items"`
	NextCursor *string              `json:"next_cursor"`
}

// handleWorkflowList handles "GET /api/v1/workflows".
func (s *Server) handleWorkflowList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if err := onlyParams(q, "limit", "cursor"); err != nil {
		return err
	}
	var p platform.Problems
	after, limit := parsePage(q, &p)
	if len(p) > 0 {
		return &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid", Fields: p}
	}
	page, err := s.Workflows.ListWorkflows(r.Context(), platform.WorkflowFilter{Namespace: platform.DefaultNamespace, After: after, Limit: limit})
	if err != nil {
		return err
	}
	out := WorkflowList{Items: page.Items}
	if out.Items == nil {
		out.Items = []*platform.Workflow{}
	}
	if page.Next != "" {
		c := encodeCursor(page.Next)
		out.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleWorkflowGet handles "GET /api/v1/workflows/{ref}"; ref is an ID or a name.
func (s *Server) handleWorkflowGet(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.Workflows.FindWorkflow(r.Context(), platform.DefaultNamespace, r.PathValue("ref"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wf)
}

// handleWorkflowManifest handles "GET /api/v1/workflows/{ref}/manifest".
func (s *Server) handleWorkflowManifest(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.Workflows.FindWorkflow(r.Context(), platform.DefaultNamespace, r.PathValue("ref"))
	if err != nil {
		return err
	}
	if wf.Manifest == nil {
		return platform.Errorf(platform.ENOTFOUND, "workflow %q has no stored manifest", wf.Name)
	}
	return writeManifest(w, r, wf.Manifest)
}

// handleWorkflowDelete handles "DELETE /api/v1/workflows/{ref}".
func (s *Server) handleWorkflowDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Workflows.DeleteWorkflow(r.Context(), platform.DefaultNamespace, r.PathValue("ref")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
