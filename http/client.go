package http

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
)

// Client speaks to a gateway's API. Every error the gateway answers with
// is a *Problem.
type Client struct {
	// BaseURL is the gateway's URL, such as "http://localhost:3100".
	BaseURL string
	// HTTPClient sends the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
	// APIKey, when set, is sent with every request as "Authorization:
	// Bearer <key>".
	APIKey string
}

// NewClient returns a client of the gateway at baseURL.
func NewClient(baseURL string) *Client {
	return &Client{BaseURL: baseURL}
}

// AgentQuery selects the agents ListAgents returns. Zero fields match
// everything.
type AgentQuery struct {
	Type       string
	Capability string
	Status     string
	// Labels must all be present with these values.
	Labels map[string]string
	// Limit is the page size; 0 leaves it to the server (50).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

func (q AgentQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("type", q.Type)
	set("capability", q.Capability)
	set("status", q.Status)
	keys := make([]string, 0, len(q.Labels))
	for k := range q.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Add("label", k+":"+q.Labels[k])
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return v
}

// CreateAgent registers an agent and returns it as stored.
func (c *Client) CreateAgent(ctx context.Context, in AgentInput) (*platform.Agent, error) {
	var a platform.Agent
	if err := c.do(ctx, http.MethodPost, "/api/v1/agents", nil, "application/json", in, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ListAgents returns one page of the agents q selects.
func (c *Client) ListAgents(ctx context.Context, q AgentQuery) (*AgentList, error) {
	var l AgentList
	if err := c.do(ctx, http.MethodGet, "/api/v1/agents", q.values(), "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetAgent returns the agent whose ID or name is ref.
func (c *Client) GetAgent(ctx context.Context, ref string) (*platform.Agent, error) {
	var a platform.Agent
	if err := c.do(ctx, http.MethodGet, agentPath(ref), nil, "", nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ReplaceAgent replaces every writable field of the agent whose ID or name
// is ref; optional fields left out of in are cleared.
func (c *Client) ReplaceAgent(ctx context.Context, ref string, in AgentInput) (*platform.Agent, error) {
	var a platform.Agent
	if err := c.do(ctx, http.MethodPut, agentPath(ref), nil, "application/json", in, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PatchAgent applies a JSON merge patch (RFC 7396) to the agent whose ID or
// name is ref. patch is encoded with encoding/json, so a map, a struct with
// omitempty fields or a json.RawMessage all serve; a nil map value removes
// the member.
func (c *Client) PatchAgent(ctx context.Context, ref string, patch any) (*platform.Agent, error) {
	var a platform.Agent
	if err := c.do(ctx, http.MethodPatch, agentPath(ref), nil, "application/merge-patch+json", patch, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteAgent removes the agent whose ID or name is ref.
func (c *Client) DeleteAgent(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, agentPath(ref), nil, "", nil, nil)
}

// CreateAgentFromManifest registers the agent an OSSA Agent manifest
// describes and returns it as stored. contentType says how the manifest is
// written: a YAML type ("application/yaml") or "application/json", in
// which case the manifest is sent as {"manifest": ...}, byte for byte, as
// the gateway keeps it. A non-empty endpoint gives the agent that endpoint
// instead of the manifest's.
func (c *Client) CreateAgentFromManifest(ctx context.Context, manifest []byte, contentType, endpoint string) (*platform.Agent, error) {
	var query url.Values
	if endpoint != "" {
		query = url.Values{"endpoint": {endpoint}}
	}
	body := rawBody(manifest)
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/json" {
		body = rawBody(append(append([]byte(`{"manifest":`), manifest...), '}'))
	}
	var a platform.Agent
	if err := c.do(ctx, http.MethodPost, "/api/v1/agents", query, contentType, body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// WorkflowQuery selects the page of workflows ListWorkflows returns.
type WorkflowQuery struct {
	// Limit is the page size; 0 leaves it to the server (50).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// CreateWorkflow stores an OSSA Workflow manifest, written as contentType
// says (a YAML type such as "application/yaml", or "application/json"),
// and returns the stored workflow.
func (c *Client) CreateWorkflow(ctx context.Context, manifest []byte, contentType string) (*platform.Workflow, error) {
	var wf platform.Workflow
	if err := c.do(ctx, http.MethodPost, "/api/v1/workflows", nil, contentType, rawBody(manifest), &wf); err != nil {
		return nil, err
	}
	return &wf, nil
}

// ListWorkflows returns one page of the stored workflows, oldest first.
func (c *Client) ListWorkflows(ctx context.Context, q WorkflowQuery) (*WorkflowList, error) {
	v := url.Values{}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var l WorkflowList
	if err := c.do(ctx, http.MethodGet, "/api/v1/workflows", v, "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetWorkflow returns the workflow whose ID or name is ref.
func (c *Client) GetWorkflow(ctx context.Context, ref string) (*platform.Workflow, error) {
	var wf platform.Workflow
	if err := c.do(ctx, http.MethodGet, workflowPath(ref), nil, "", nil, &wf); err != nil {
		return nil, err
	}
	return &wf, nil
}

// DeleteWorkflow removes the workflow whose ID or name is ref.
func (c *Client) DeleteWorkflow(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, workflowPath(ref), nil, "", nil, nil)
}

func workflowPath(ref string) string { return "/api/v1/workflows/" + url.PathEscape(ref) }

// Orchestrate starts a run of the workflow req names or holds. With wait 0
// the gateway answers as soon as the run is queued, and the run returned
// has only its ID and Status; GetRun fetches the rest. With a wait (at most
// MaxRunWait) the gateway answers when the run is over or the wait passes,
// with the whole run: check its Status, which is not terminal when the
// wait passed first.
func (c *Client) Orchestrate(ctx context.Context, req OrchestrateRequest, wait time.Duration) (*platform.Run, error) {
	if wait > 0 {
		var run platform.Run
		query := url.Values{"wait": {wait.String()}}
		if err := c.do(ctx, http.MethodPost, "/api/v1/orchestrate", query, "application/json", req, &run); err != nil {
			return nil, err
		}
		return &run, nil
	}
	var acc OrchestrateAccepted
	if err := c.do(ctx, http.MethodPost, "/api/v1/orchestrate", nil, "application/json", req, &acc); err != nil {
		return nil, err
	}
	return &platform.Run{ID: acc.RunID, Status: acc.Status}, nil
}

// RunQuery selects the runs ListRuns returns. Zero fields match everything.
type RunQuery struct {
	Status platform.RunStatus
	// Workflow is a workflow's name.
	Workflow string
	// Limit is the page size; 0 leaves it to the server (50).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

func (q RunQuery) values() url.Values {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	if q.Workflow != "" {
		v.Set("workflow", q.Workflow)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// GetRun returns the run with that ID, with its steps.
func (c *Client) GetRun(ctx context.Context, id string) (*platform.Run, error) {
	var run platform.Run
	if err := c.do(ctx, http.MethodGet, runPath(id), nil, "", nil, &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// ListRuns returns one page of the runs q selects, newest first, without
// their steps.
func (c *Client) ListRuns(ctx context.Context, q RunQuery) (*RunList, error) {
	var l RunList
	if err := c.do(ctx, http.MethodGet, "/api/v1/runs", q.values(), "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// CancelRun asks the run to stop and returns it: cancelled when it was
// queued, unchanged when it was over, and still running with
// CancelRequested set when it was running.
func (c *Client) CancelRun(ctx context.Context, id string) (*platform.Run, error) {
	var run platform.Run
	// No body, but a JSON Content-Type, which the gateway asks of every POST.
	if err := c.do(ctx, http.MethodPost, runPath(id)+"/cancel", nil, "application/json", nil, &run); err != nil {
		return nil, err
	}
	return &run, nil
}

// Execute calls the agent whose ID or name is ref once, outside any
// workflow, and returns its output. A failed agent is a *Problem with
// code bad_gateway (502), a silent one timeout (504).
func (c *Client) Execute(ctx context.Context, ref string, req platform.ExecuteRequest) (*platform.Execution, error) {
	var ex platform.Execution
	if err := c.do(ctx, http.MethodPost, agentPath(ref)+"/execute", nil, "application/json", req, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Health returns the gateway's health. An unhealthy gateway answers 503
// with a Health body, so Health returns it with a nil error: the caller
// reads Status. Other failures are errors.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	resp, err := c.send(ctx, http.MethodGet, "/health", nil, "", nil)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	unhealthy := resp.StatusCode == http.StatusServiceUnavailable && mediaType(resp) == "application/json"
	if resp.StatusCode >= 300 && !unhealthy {
		return nil, problemFrom(resp)
	}
	var h Health
	if err := decodeResponse(resp, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// PutWorkflowOptions are the optional parts of PutWorkflow.
type PutWorkflowOptions struct {
	// ContentType is the manifest's media type: application/yaml or
	// application/json (the default).
	ContentType string
	// IfMatch makes the put conditional: WorkflowETag of the workflow as
	// last read, or "*" for any stored state. A workflow that changed (or
	// does not exist) is a *Problem with code precondition (412).
	IfMatch string
}

// PutWorkflow stores an OSSA Workflow manifest under name, which must be
// its metadata.name: it creates the workflow (created is true) or stores
// the manifest as its next revision; a manifest the same as the stored one
// stores nothing and returns the workflow as it is.
func (c *Client) PutWorkflow(ctx context.Context, name string, manifest []byte, opts PutWorkflowOptions) (wf *platform.Workflow, created bool, err error) {
	header := http.Header{}
	if opts.IfMatch != "" {
		header.Set("If-Match", opts.IfMatch)
	}
	resp, err := c.sendWith(ctx, http.MethodPut, "/api/v1/workflows/"+url.PathEscape(name), nil,
		cmp.Or(opts.ContentType, "application/json"), header, rawBody(manifest))
	if err != nil {
		return nil, false, err
	}
	defer drain(resp)
	if resp.StatusCode >= 300 {
		return nil, false, problemFrom(resp)
	}
	var w platform.Workflow
	if err := decodeResponse(resp, &w); err != nil {
		return nil, false, err
	}
	return &w, resp.StatusCode == http.StatusCreated, nil
}

// RevisionQuery selects one page of ListWorkflowRevisions.
type RevisionQuery struct {
	// Limit is the page size; 0 leaves it to the server (50).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// ListWorkflowRevisions returns one page of the revisions of the workflow
// whose ID or name is ref, newest first, without their definitions.
func (c *Client) ListWorkflowRevisions(ctx context.Context, ref string, q RevisionQuery) (*RevisionList, error) {
	v := url.Values{}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var l RevisionList
	if err := c.do(ctx, http.MethodGet, "/api/v1/workflows/"+url.PathEscape(ref)+"/revisions", v, "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// GetWorkflowRevision returns revision n of the workflow whose ID or name
// is ref, with its definition.
func (c *Client) GetWorkflowRevision(ctx context.Context, ref string, n int) (*platform.WorkflowRevision, error) {
	var r platform.WorkflowRevision
	path := "/api/v1/workflows/" + url.PathEscape(ref) + "/revisions/" + strconv.Itoa(n)
	if err := c.do(ctx, http.MethodGet, path, nil, "", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func agentPath(ref string) string { return "/api/v1/agents/" + url.PathEscape(ref) }

// do sends one request and decodes a 2xx body into out, unless out is nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body, out any) error {
	resp, err := c.send(ctx, method, path, query, contentType, body)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode >= 300 {
		return problemFrom(resp)
	}
	if out == nil {
		return nil
	}
	return decodeResponse(resp, out)
}

// rawBody is a request body sent as it is, not encoded as JSON.
type rawBody []byte

// send sends body as it is when it is a rawBody, else encodes it as JSON
// unless it is nil, and sends the request with contentType, when set.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, contentType string, body any) (*http.Response, error) {
	return c.sendWith(ctx, method, path, query, contentType, nil, body)
}

// sendWith is send with more request headers.
func (c *Client) sendWith(ctx context.Context, method, path string, query url.Values, contentType string, header http.Header, body any) (*http.Response, error) {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var r io.Reader
	if raw, ok := body.(rawBody); ok {
		r = bytes.NewReader(raw)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s body: %w", method, path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "ossa-client/"+platform.Version)
	c.authorize(req)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

// authorize sets req's credentials.
func (c *Client) authorize(req *http.Request) {
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
}

// drain reads what is left of the body, so the connection can be reused,
// and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

func decodeResponse(resp *http.Response, out any) error {
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the %s response of %s %s: %w", resp.Status, resp.Request.Method, resp.Request.URL.Path, err)
	}
	return nil
}

func mediaType(resp *http.Response) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt
}

// maxErrorBody caps how much of an error body is read, and maxErrorDetail
// how much of a body that is not a problem becomes the problem's detail.
const (
	maxErrorBody   = 1 << 16
	maxErrorDetail = 512
)

// problemFrom turns an error response into a *Problem: the body itself when
// it is a problem, else one made from the status and the body's text, as a
// proxy in front of the gateway may answer.
func problemFrom(resp *http.Response) *Problem {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var p Problem
	if mt := mediaType(resp); (mt == "application/problem+json" || mt == "application/json") &&
		json.Unmarshal(body, &p) == nil && p.Type != "" {
		if p.Status == 0 {
			p.Status = resp.StatusCode
		}
		if p.Title == "" {
			p.Title = http.StatusText(p.Status)
		}
		if p.RequestID == "" {
			p.RequestID = resp.Header.Get("X-Request-ID")
		}
		return &p
	}
	return &Problem{
		Type:      problemType(resp.StatusCode),
		Title:     http.StatusText(resp.StatusCode),
		Status:    resp.StatusCode,
		Detail:    platform.Truncate(strings.TrimSpace(string(body)), maxErrorDetail),
		Instance:  resp.Request.URL.Path,
		RequestID: resp.Header.Get("X-Request-ID"),
	}
}

// problemType names the code the gateway uses for status, so that Code
// means the same for a proxy's 503 as for the gateway's; "about:blank"
// (RFC 9457's default) for a status the gateway never answers.
func problemType(status int) string {
	for code, s := range statuses {
		if s == status {
			return ProblemTypePrefix + code
		}
	}
	return "about:blank"
}

// Events follows GET /api/v1/events: it calls fn with each event of the
// channels (every event when none is given) after since (-1: only events
// from now on), until ctx ends (nil) or fn returns an error (which it
// returns). A dropped connection is resumed after the last event seen,
// losing nothing; after MaxStreamRetries failed reconnections in a row the
// last error is returned.
func (c *Client) Events(ctx context.Context, channels []string, since int64, fn func(*platform.Event) error) error {
	q := url.Values{}
	if len(channels) > 0 {
		q.Set("channels", strings.Join(channels, ","))
	}
	_, err := c.follow(ctx, "/api/v1/events", q, since, fn)
	if ctx.Err() != nil {
		return nil //nolint:nilerr // the caller ended the stream: not a failure
	}
	return err
}

// RunEvents follows GET /api/v1/runs/{id}/events from the run's first
// event to its terminal one, and returns that terminal event. Like Events
// it resumes a dropped connection where it broke.
func (c *Client) RunEvents(ctx context.Context, id string, fn func(*platform.Event) error) (*platform.Event, error) {
	return c.follow(ctx, "/api/v1/runs/"+url.PathEscape(id)+"/events", nil, 0, fn)
}

// MaxStreamRetries is how many reconnections in a row an event stream
// tries, half a second apart and doubling, before it gives up.
const MaxStreamRetries = 5

// follow reads an SSE stream, reconnecting with Last-Event-ID, until the
// server ends it after a terminal run event (returned), ctx ends, or fn or
// the server refuses.
func (c *Client) follow(ctx context.Context, path string, q url.Values, since int64, fn func(*platform.Event) error) (*platform.Event, error) {
	last, failures := since, 0
	for {
		got, terminal, err := c.stream(ctx, path, q, last, fn)
		if got > last {
			last, failures = got, 0
		}
		var p *Problem
		var fnErr *streamHandlerError
		switch {
		case terminal != nil:
			return terminal, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.As(err, &fnErr):
			return nil, fnErr.err
		case errors.As(err, &p) && p.Status < 500:
			return nil, err
		}
		failures++
		if failures > MaxStreamRetries {
			if err == nil {
				err = errors.New("the event stream kept closing")
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(1<<(failures-1)) * 500 * time.Millisecond):
		}
	}
}

type streamHandlerError struct{ err error }

func (e *streamHandlerError) Error() string { return e.err.Error() }

// stream reads one connection of an SSE stream and returns the last event
// ID it saw and the terminal run event, if one came before the end.
func (c *Client) stream(ctx context.Context, path string, q url.Values, since int64, fn func(*platform.Event) error) (int64, *platform.Event, error) {
	u := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return since, nil, err
	}
	req.Header.Set("Accept", "text/event-stream, application/problem+json")
	req.Header.Set("User-Agent", "ossa-client/"+platform.Version)
	c.authorize(req)
	if since >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(since, 10))
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return since, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return since, nil, problemFrom(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	last, data := since, []byte(nil)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0 && data != nil:
			var e platform.Event
			if err := json.Unmarshal(data, &e); err != nil {
				return last, nil, fmt.Errorf("event stream: bad event %s: %w", platform.Truncate(string(data), 200), err)
			}
			data = nil
			if e.ID <= last {
				continue
			}
			last = e.ID
			if err := fn(&e); err != nil {
				return last, nil, &streamHandlerError{err}
			}
			if e.Terminal() && strings.HasPrefix(path, "/api/v1/runs/") {
				return last, &e, nil
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[len("data: "):]...)
		}
	}
	return last, nil, sc.Err()
}

// CreateKey makes an API key: the answer holds the key, shown this once.
func (c *Client) CreateKey(ctx context.Context, in KeyInput) (*CreatedKey, error) {
	var out CreatedKey
	if err := c.do(ctx, http.MethodPost, "/api/v1/keys", nil, "application/json", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys lists the API keys of the client's namespace, or of every
// namespace it sees when all is set.
func (c *Client) ListKeys(ctx context.Context, all bool) ([]*platform.APIKey, error) {
	var q url.Values
	if all {
		q = url.Values{"all": {"true"}}
	}
	var out Page[*platform.APIKey]
	if err := c.do(ctx, http.MethodGet, "/api/v1/keys", q, "", nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// RevokeKey revokes the API key with that ID and returns its record.
func (c *Client) RevokeKey(ctx context.Context, id string) (*platform.APIKey, error) {
	var out platform.APIKey
	if err := c.do(ctx, http.MethodDelete, "/api/v1/keys/"+url.PathEscape(id), nil, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SearchAgents returns the agents that best fit a sentence, best first
// (POST /api/v1/discover).
func (c *Client) SearchAgents(ctx context.Context, in DiscoverInput) (*DiscoveryResult, error) {
	var out DiscoveryResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/discover", nil, "application/json", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Reindex starts re-indexing every agent for discovery (POST
// /api/v1/discover/reindex) and returns how many it will index.
func (c *Client) Reindex(ctx context.Context) (*ReindexStarted, error) {
	var out ReindexStarted
	if err := c.do(ctx, http.MethodPost, "/api/v1/discover/reindex", nil, "application/json", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
