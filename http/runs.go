package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

func (s *Server) registerRunRoutes() {
	s.handle("POST /api/v1/orchestrate", platform.ScopeRunsWrite, s.handleOrchestrate)
	s.handle("GET /api/v1/runs", platform.ScopeRunsRead, s.handleRunList)
	s.handle("GET /api/v1/runs/{id}", platform.ScopeRunsRead, s.handleRunGet)
	s.handle("POST /api/v1/runs/{id}/cancel", platform.ScopeRunsWrite, s.handleRunCancel)
}

// MaxRunWait is the longest wait POST /api/v1/orchestrate accepts.
const MaxRunWait = 5 * time.Minute

// The polling of a waiting orchestrate request starts fast, for runs of a
// few quick steps, and slows down to spare the store.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 250 * time.Millisecond
)

// OrchestrateRequest is the body of POST /api/v1/orchestrate.
type OrchestrateRequest struct {
	// Workflow is a stored workflow's name or ID (a string), or an OSSA
	// Workflow manifest (anything that encodes as a JSON object: a map,
	// json.RawMessage), validated like a stored one and never stored.
	Workflow any `json:"workflow"`
	// Agents are the agents, by name or ID, the run may use; empty means
	// any active agent.
	Agents []string `json:"agents,omitempty"`
	// Parameters are the run's inputs; anything that encodes as a JSON
	// object, nil for none.
	Parameters any `json:"parameters,omitempty"`
	// Revision runs that revision of the stored workflow Workflow names;
	// 0 runs its newest.
	Revision int `json:"revision,omitempty"`
}

// orchestrateBody is OrchestrateRequest as the server reads it: the raw
// members, to tell a workflow's name from an inline manifest.
type orchestrateBody struct {
	Workflow   json.RawMessage `json:"workflow"`
	Agents     []string        `json:"agents"`
	Parameters json.RawMessage `json:"parameters"`
	Revision   json.RawMessage `json:"revision"`
}

// OrchestrateAccepted is the body of a 202 from POST /api/v1/orchestrate
// without a wait: the run is queued.
type OrchestrateAccepted struct {
	RunID  string             `json:"run_id"`
	Status platform.RunStatus `json:"status"`
	Links  RunLinks           `json:"links"`
}

// RunLinks are the routes that concern one run.
type RunLinks struct {
	Self   string `json:"self"`
	Cancel string `json:"cancel"`
	// Events is the run's live event stream (SSE).
	Events string `json:"events"`
}

func runPath(id string) string { return "/api/v1/runs/" + url.PathEscape(id) }

// orchestrationReady answers 503 while the gateway runs no engine.
func (s *Server) orchestrationReady() error {
	if s.Runs == nil || s.Orchestrator == nil {
		return platform.Errorf(platform.EUNAVAILABLE, "orchestration is not configured")
	}
	return nil
}

// handleOrchestrate handles "POST /api/v1/orchestrate": it checks the
// request, creates a queued run and answers 202 at once, or, with ?wait=,
// holds the request until the run is over (200 with the run) or the wait
// passes (202 with the run as it is then).
func (s *Server) handleOrchestrate(w http.ResponseWriter, r *http.Request) error {
	if err := s.orchestrationReady(); err != nil {
		return err
	}
	wait, err := parseWait(r.URL.Query())
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	ns := namespace(r)
	wf, agents, params, err := s.decodeOrchestrate(r.Context(), ns, body)
	if err != nil {
		return err
	}
	run, err := s.Orchestrator.NewRun(r.Context(), ns, wf, agents, params)
	if err != nil {
		return err
	}
	if err := s.Runs.CreateRun(r.Context(), run); err != nil {
		return err
	}
	w.Header().Set("Location", runPath(run.ID))
	if wait == 0 {
		return writeJSON(w, http.StatusAccepted, OrchestrateAccepted{RunID: run.ID, Status: run.Status, Links: RunLinks{
			Self: runPath(run.ID), Cancel: runPath(run.ID) + "/cancel", Events: runPath(run.ID) + "/events"}})
	}
	defer s.longLived(r)()
	// The run exists now: a failed wait must not hide its ID behind an
	// error, so the caller gets it as it was created.
	if waited, err := s.awaitRun(r.Context(), ns, run.ID, wait); err != nil {
		logger(r).WarnContext(r.Context(), "waiting for a run", slog.String("run", run.ID), slog.String("error", err.Error()))
	} else {
		run = waited
	}
	status := http.StatusAccepted
	if run.Status.Terminal() {
		status = http.StatusOK
	}
	return writeJSON(w, status, run)
}

// parseWait reads the wait query parameter, the only one orchestrate takes.
func parseWait(q url.Values) (time.Duration, error) {
	if err := onlyParams(q, "wait"); err != nil {
		return 0, err
	}
	v := q.Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxRunWait {
		return 0, &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid",
			Fields: []platform.FieldError{{Field: "wait", Message: "must be a duration from 0s to " + MaxRunWait.String() + ", such as 30s"}}}
	}
	return d, nil
}

// decodeOrchestrate reads an orchestrate body and returns the workflow to
// run, stored in namespace ns or inline, with the agents and parameters.
// Every problem with the body, including an inline manifest's, is reported
// at once.
func (s *Server) decodeOrchestrate(ctx context.Context, ns string, body []byte) (*platform.Workflow, []string, json.RawMessage, error) {
	var in orchestrateBody
	present, problems, err := decodeObject(body, &in)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, a := range in.Agents {
		if field := "/agents/" + itoa(i); a == "" && !hasField(problems, field) {
			problems.Add(field, "must be an agent's name or ID, not empty")
		}
	}
	params := json.RawMessage(`{}`)
	if raw := bytes.TrimSpace(in.Parameters); present["parameters"] && string(raw) != "null" {
		if raw[0] != '{' {
			problems.Add("/parameters", "must be a JSON object")
		}
		params = raw
	}
	revision := 0
	if raw := bytes.TrimSpace(in.Revision); present["revision"] && string(raw) != "null" {
		n, err := strconv.Atoi(string(raw))
		if err != nil || n < 1 {
			problems.Add("/revision", "must be a revision number of the stored workflow, a whole number from 1")
		}
		revision = max(n, 0)
	}
	var ref string
	var inline *platform.Workflow
	var manifestErr *platform.Error
	raw := bytes.TrimSpace(in.Workflow)
	switch {
	case !present["workflow"] || string(raw) == "null":
		problems.Add("/workflow", "is required: a workflow's name or ID, or an OSSA Workflow manifest object")
	case raw[0] == '"':
		_ = json.Unmarshal(raw, &ref)
		if ref == "" {
			problems.Add("/workflow", "must be a workflow's name or ID, not empty")
		}
	case raw[0] == '{':
		inline, manifestErr, err = inlineWorkflow(ns, body)
		if err != nil {
			return nil, nil, nil, err
		}
		if revision > 0 {
			problems.Add("/revision", "applies to a stored workflow, named by /workflow; an inline workflow has no revisions")
		}
	default:
		problems.Add("/workflow", "must be a workflow's name or ID (a string), or an OSSA Workflow manifest (an object)")
	}
	switch {
	case manifestErr != nil && len(problems) == 0:
		return nil, nil, nil, manifestErr
	case manifestErr != nil:
		problems = append(problems, manifestErr.Fields...)
	}
	if err := problems.Err("the orchestrate request is not valid"); err != nil {
		return nil, nil, nil, err
	}
	if inline != nil {
		return inline, in.Agents, params, nil
	}
	if revision > 0 {
		rev, err := s.Workflows.FindWorkflowRevision(ctx, ns, ref, revision)
		if err != nil {
			return nil, nil, nil, err
		}
		return rev.Workflow(ns), in.Agents, params, nil
	}
	wf, err := s.Workflows.FindWorkflow(ctx, ns, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	return wf, in.Agents, params, nil
}

// inlineWorkflow validates the manifest in the workflow member of body as
// POST /api/v1/workflows would, but names problems by their pointer in the
// whole body (/workflow/spec/...) and locates them in it, and returns the
// workflow, of namespace ns. An invalid manifest is returned as an
// *platform.Error, not as err, so that it can join the body's other
// problems.
func inlineWorkflow(ns string, body []byte) (*platform.Workflow, *platform.Error, error) {
	// The body already decoded as JSON, which YAML reads too.
	docs, err := manifest.Parse("request", body)
	if err != nil {
		return nil, nil, badBody("", "the workflow manifest cannot be read: %v", err)
	}
	if len(docs) != 1 || docs[0].Root.Get("workflow") == nil {
		return nil, nil, badBody("", "the workflow manifest cannot be read")
	}
	doc := &manifest.Document{File: "workflow", Root: docs[0].Root.Get("workflow"), Problems: docs[0].Problems}
	if _, err := validManifest(doc, "Workflow"); err != nil {
		var e *platform.Error
		errors.As(err, &e)
		for i, f := range e.Fields {
			e.Fields[i].Field = "/workflow" + f.Field
		}
		return nil, e, nil
	}
	def, err := doc.Root.MarshalJSON()
	if err != nil {
		return nil, nil, err
	}
	v, err := doc.Decode()
	if err != nil {
		return nil, nil, err
	}
	m := v.(*manifest.Workflow)
	return &platform.Workflow{Namespace: ns, Name: m.Metadata.Name, Version: m.Metadata.Version,
		Description: m.Metadata.Description, APIVersion: doc.APIVersion(), Definition: def}, nil, nil
}

// awaitRun polls the run of namespace ns until it is over, the wait passes
// or the client goes away, and returns it as it then is.
func (s *Server) awaitRun(ctx context.Context, ns, id string, wait time.Duration) (*platform.Run, error) {
	deadline := time.Now().Add(wait)
	delay := firstPoll
	for {
		run, err := s.Runs.FindRun(ctx, ns, id)
		if err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if run.Status.Terminal() || left <= 0 {
			return run, nil
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return run, nil
		case <-t.C:
		}
		delay = min(delay*2, maxPoll)
	}
}

// RunList is the body of GET /api/v1/runs.
// Its items are newest first, without their steps.
type RunList = Page[*platform.Run]

// runListParams are the query parameters GET /api/v1/runs takes.
var runListParams = []string{"status", "workflow", "limit", "cursor"}

// handleRunList handles "GET /api/v1/runs".
func (s *Server) handleRunList(w http.ResponseWriter, r *http.Request) error {
	if err := s.orchestrationReady(); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := onlyParams(q, runListParams...); err != nil {
		return err
	}
	f := platform.RunFilter{Namespace: namespace(r), Workflow: q.Get("workflow")}
	var p platform.Problems
	if v := q.Get("status"); v != "" {
		f.Status = platform.RunStatus(v)
		if !f.Status.Valid() {
			p.Add("status", "must be one of %s", platform.QuoteList(platform.RunStatuses))
		}
	}
	f.After, f.Limit = parsePage(q, &p)
	if len(p) > 0 {
		return &platform.Error{Code: platform.EBADREQUEST, Message: "the query parameters are not valid", Fields: p}
	}
	page, err := s.Runs.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	return writePage(w, page.Items, page.Next)
}

// handleRunGet handles "GET /api/v1/runs/{id}": the run with its steps.
func (s *Server) handleRunGet(w http.ResponseWriter, r *http.Request) error {
	if err := s.orchestrationReady(); err != nil {
		return err
	}
	run, err := s.Runs.FindRun(r.Context(), namespace(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

// handleRunCancel handles "POST /api/v1/runs/{id}/cancel". It takes no
// body. A run that is over when the answer is written (a queued run is
// cancelled at once; a finished one is left as it was, so that retrying a
// cancel is harmless) is answered 200; a running one 202, with
// cancel_requested set: its executor stops it at the next chance.
func (s *Server) handleRunCancel(w http.ResponseWriter, r *http.Request) error {
	if err := s.orchestrationReady(); err != nil {
		return err
	}
	if err := onlyParams(r.URL.Query()); err != nil {
		return err
	}
	run, err := s.Runs.CancelRun(r.Context(), namespace(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if run.Status.Terminal() {
		status = http.StatusOK
	}
	return writeJSON(w, status, run)
}
