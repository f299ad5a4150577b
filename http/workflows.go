package http

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

func (s *Server) registerWorkflowRoutes() {
	s.handle("POST /api/v1/workflows", platform.ScopeWorkflowsWrite, s.handleWorkflowCreate)
	s.handle("GET /api/v1/workflows", platform.ScopeWorkflowsRead, s.handleWorkflowList)
	s.handle("GET /api/v1/workflows/{ref}", platform.ScopeWorkflowsRead, s.handleWorkflowGet)
	s.handle("PUT /api/v1/workflows/{ref}", platform.ScopeWorkflowsWrite, s.handleWorkflowPut)
	s.handle("GET /api/v1/workflows/{ref}/manifest", platform.ScopeWorkflowsRead, s.handleWorkflowManifest)
	s.handle("DELETE /api/v1/workflows/{ref}", platform.ScopeWorkflowsWrite, s.handleWorkflowDelete)
	s.handle("GET /api/v1/workflows/{ref}/revisions", platform.ScopeWorkflowsRead, s.handleRevisionList)
	s.handle("GET /api/v1/workflows/{ref}/revisions/{n}", platform.ScopeWorkflowsRead, s.handleRevisionGet)
	s.handle("GET /api/v1/workflows/{ref}/revisions/{n}/manifest", platform.ScopeWorkflowsRead, s.handleRevisionManifest)
}

// WorkflowETag is the entity tag of a workflow's stored state, which
// GET and PUT /api/v1/workflows/{ref} answer in ETag and a conditional PUT
// sends back in If-Match: it changes with every revision, and a workflow
// deleted and created again under its name gets a new one.
func WorkflowETag(w *platform.Workflow) string {
	return `"` + w.ID + "." + strconv.Itoa(w.Revision) + `"`
}

// workflowFromBody reads and validates the Workflow manifest of a POST or
// PUT body (YAML, or JSON, bare or as {"manifest": {...}}), which compiles
// it as the engine does (manifest.CompileWorkflow), so that what is stored
// can run, and returns the workflow to store. pathName, when set, is the name the route names, which the
// manifest's metadata.name must equal.
func workflowFromBody(r *http.Request, body []byte, pathName string) (*platform.Workflow, error) {
	if err := onlyParams(r.URL.Query()); err != nil {
		return nil, err
	}
	doc, src, err := decodeManifest(body, isYAML(r))
	if err != nil {
		return nil, err
	}
	if _, err := validManifest(doc, "Workflow"); err != nil {
		return nil, err
	}
	def, err := doc.Root.MarshalJSON()
	if err != nil {
		return nil, err
	}
	v, _ := doc.Decode()
	m := v.(*manifest.Workflow)
	wf := &platform.Workflow{Namespace: namespace(r), Name: m.Metadata.Name, Version: m.Metadata.Version,
		Description: m.Metadata.Description, APIVersion: doc.APIVersion(), Definition: def, Manifest: src}
	n := doc.Root.At("/metadata/name")
	nameError := func(msg string) error {
		return &platform.Error{Code: platform.EINVALID, Message: "the Workflow manifest is not valid", Fields: []platform.FieldError{{
			Field: "/metadata/name", Message: msg, Line: n.Pos.Line, Column: n.Pos.Column}}}
	}
	switch {
	case pathName != "" && wf.Name != pathName:
		return nil, nameError(fmt.Sprintf("must be %q, the workflow's name in the path (PUT names a workflow by its name, not its ID), not %q",
			pathName, wf.Name))
	case !platform.ValidName(wf.Name) || platform.LooksLikeID(wf.Name):
		return nil, nameError("must be a DNS-1123 label, not of the form of a UUID, to be stored: at most 63 lower-case letters, digits and '-'")
	}
	return wf, nil
}

// handleWorkflowCreate handles "POST /api/v1/workflows": an OSSA Workflow
// manifest, validated before it is stored as revision 1 of a new
// workflow. A name already stored is a conflict: PUT stores a new
// revision.
func (s *Server) handleWorkflowCreate(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, append([]string{"application/json"}, yamlTypes...)...)
	if err != nil {
		return err
	}
	wf, err := workflowFromBody(r, body, "")
	if err != nil {
		return err
	}
	if err := s.Workflows.CreateWorkflow(r.Context(), wf); err != nil {
		if platform.ErrorCode(err) == platform.ECONFLICT {
			return platform.Errorf(platform.ECONFLICT, "%s; PUT /api/v1/workflows/%s stores a new revision of it",
				platform.ErrorMessage(err), wf.Name)
		}
		return err
	}
	w.Header().Set("Location", "/api/v1/workflows/"+wf.ID)
	w.Header().Set("ETag", WorkflowETag(wf))
	return writeJSON(w, http.StatusCreated, wf)
}

// handleWorkflowPut handles "PUT /api/v1/workflows/{ref}", ref being the
// workflow's name: the body is a manifest as for POST, whose
// metadata.name is that name. It creates the workflow (201) or stores
// the manifest as its next revision (200; a manifest the same as the
// stored one stores nothing). With If-Match (the workflow's ETag, or *
// for any stored state) the PUT happens only if the workflow is still
// so, else 412.
func (s *Server) handleWorkflowPut(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, append([]string{"application/json"}, yamlTypes...)...)
	if err != nil {
		return err
	}
	name := r.PathValue("ref")
	wf, err := workflowFromBody(r, body, name)
	if err != nil {
		return err
	}
	var check func(*platform.Workflow) error
	if ifMatch := r.Header.Get("If-Match"); ifMatch != "" {
		check = func(cur *platform.Workflow) error { return checkIfMatch(ifMatch, name, cur) }
	}
	change, err := s.Workflows.PutWorkflow(r.Context(), wf, check)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", WorkflowETag(wf))
	status := http.StatusOK
	if change == platform.WorkflowCreated {
		w.Header().Set("Location", "/api/v1/workflows/"+wf.ID)
		status = http.StatusCreated
	}
	return writeJSON(w, status, wf)
}

// checkIfMatch is the precondition of If-Match (RFC 9110, section 13.1.1)
// on the stored workflow cur (nil when there is none): * matches any
// stored workflow, else one of the listed entity tags must be cur's, by
// strong comparison, so a weak tag never matches.
func checkIfMatch(ifMatch, name string, cur *platform.Workflow) error {
	fail := func(format string, args ...any) error {
		return &platform.Error{Code: platform.EPRECONDITION, Message: fmt.Sprintf(format, args...),
			Fields: []platform.FieldError{{Field: "If-Match", Message: fmt.Sprintf("is %s", ifMatch)}}}
	}
	if cur == nil {
		return fail("workflow %q does not exist, so If-Match cannot hold; leave If-Match out to create it", name)
	}
	tag := WorkflowETag(cur)
	for _, t := range strings.Split(ifMatch, ",") {
		if t = strings.TrimSpace(t); t == "*" || t == tag {
			return nil
		}
	}
	return fail("workflow %q has changed: its ETag is now %s (revision %d); fetch it again and retry", name, tag, cur.Revision)
}

// WorkflowList is the body of GET /api/v1/workflows.
type WorkflowList = Page[*platform.Workflow]

// handleWorkflowList handles "GET /api/v1/workflows".
func (s *Server) handleWorkflowList(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageOnly(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.Workflows.ListWorkflows(r.Context(), platform.WorkflowFilter{Namespace: namespace(r), After: after, Limit: limit})
	if err != nil {
		return err
	}
	return writePage(w, page.Items, page.Next)
}

// handleWorkflowGet handles "GET /api/v1/workflows/{ref}"; ref is an ID or a name.
func (s *Server) handleWorkflowGet(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.Workflows.FindWorkflow(r.Context(), namespace(r), r.PathValue("ref"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", WorkflowETag(wf))
	return writeJSON(w, http.StatusOK, wf)
}

// handleWorkflowManifest handles "GET /api/v1/workflows/{ref}/manifest".
func (s *Server) handleWorkflowManifest(w http.ResponseWriter, r *http.Request) error {
	wf, err := s.Workflows.FindWorkflow(r.Context(), namespace(r), r.PathValue("ref"))
	if err != nil {
		return err
	}
	if wf.Manifest == nil {
		return platform.Errorf(platform.ENOTFOUND, "workflow %q has no stored manifest", wf.Name)
	}
	return writeManifest(w, r, wf.Manifest)
}

// handleWorkflowDelete handles "DELETE /api/v1/workflows/{ref}": the
// workflow and its revisions; its runs stay.
func (s *Server) handleWorkflowDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Workflows.DeleteWorkflow(r.Context(), namespace(r), r.PathValue("ref")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RevisionList is the body of GET /api/v1/workflows/{ref}/revisions.
// Its items are newest first, without their definitions.
type RevisionList = Page[*platform.WorkflowRevision]

// handleRevisionList handles "GET /api/v1/workflows/{ref}/revisions".
func (s *Server) handleRevisionList(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageOnly(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := s.Workflows.ListWorkflowRevisions(r.Context(), platform.RevisionFilter{Namespace: namespace(r),
		Workflow: r.PathValue("ref"), After: after, Limit: limit})
	if err != nil {
		return err
	}
	return writePage(w, page.Items, page.Next)
}

// findRevision reads the revision the route's {ref} and {n} name; an n
// that is not a revision number names none.
func (s *Server) findRevision(r *http.Request) (*platform.WorkflowRevision, error) {
	ref, raw := r.PathValue("ref"), r.PathValue("n")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || strconv.Itoa(n) != raw {
		return nil, platform.Errorf(platform.ENOTFOUND, "workflow %q has no revision %q: revisions are numbered from 1", ref, raw)
	}
	return s.Workflows.FindWorkflowRevision(r.Context(), namespace(r), ref, n)
}

// handleRevisionGet handles "GET /api/v1/workflows/{ref}/revisions/{n}":
// the workflow as it was at revision n, with its definition.
func (s *Server) handleRevisionGet(w http.ResponseWriter, r *http.Request) error {
	rev, err := s.findRevision(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rev)
}

// handleRevisionManifest handles
// "GET /api/v1/workflows/{ref}/revisions/{n}/manifest": the manifest of
// revision n, as GET /api/v1/workflows/{ref}/manifest serves the newest.
func (s *Server) handleRevisionManifest(w http.ResponseWriter, r *http.Request) error {
	rev, err := s.findRevision(r)
	if err != nil {
		return err
	}
	if rev.Manifest == nil {
		return platform.Errorf(platform.ENOTFOUND, "revision %d of workflow %q has no stored manifest", rev.Revision, rev.Name)
	}
	return writeManifest(w, r, rev.Manifest)
}
