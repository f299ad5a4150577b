package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

// greeting is a workflow named name whose one step sends word to the
// greeter agent, at metadata.version version.
func greeting(name, version, word string) []byte {
	return fmt.Appendf(nil, "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata:\n  name: %s\n  version: %s\nspec:\n  steps:\n"+
		"    - id: greet\n      kind: Agent\n      ref: greeter\n      input: {word: %s}\n", name, version, word)
}

// workflowState is the stored workflow and its revisions, from the store.
func workflowState(t *testing.T, g *gateway, name string) string {
	t.Helper()
	return listWorkflows(t, g) + "|" + fmt.Sprint(revisionsOf(t, g, name))
}

func revisionsOf(t *testing.T, g *gateway, name string) []int {
	t.Helper()
	page, err := g.db.ListWorkflowRevisions(t.Context(), platform.RevisionFilter{Namespace: platform.DefaultNamespace, Workflow: name, Limit: 100})
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, r := range page.Items {
		out = append(out, r.Revision)
	}
	return out
}

// TestWorkflowPut checks PUT /api/v1/workflows/{name}: it creates, then
// stores revisions, answers the ETag GET answers, stores nothing for the
// same manifest, and honours If-Match; and every refusal (wrong name,
// stale or absent If-Match, invalid manifest) is a problem that changes
// nothing.
func TestWorkflowPut(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	put := func(body []byte, headers ...string) (*http.Response, []byte) {
		t.Helper()
		return g.do(t, http.MethodPut, "/api/v1/workflows/hello", "application/yaml", body, headers...)
	}
	resp, b := put(greeting("hello", "1.0.0", "hi"))
	var first platform.Workflow
	mustUnmarshal(t, b, &first)
	if resp.StatusCode != http.StatusCreated || first.Revision != 1 || first.Version != "1.0.0" ||
		resp.Header.Get("Location") != "/api/v1/workflows/"+first.ID || resp.Header.Get("ETag") != ohttp.WorkflowETag(&first) {
		t.Fatalf("create: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	etag1 := resp.Header.Get("ETag")
	resp, b = g.do(t, http.MethodGet, "/api/v1/workflows/hello", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != etag1 || !strings.Contains(string(b), `"revision":1`) {
		t.Fatalf("get: %d %v %s", resp.StatusCode, resp.Header, b)
	}

	resp, b = put(greeting("hello", "1.1.0", "hello"), "If-Match", etag1)
	var second platform.Workflow
	mustUnmarshal(t, b, &second)
	etag2 := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || second.ID != first.ID || second.Revision != 2 || second.Version != "1.1.0" ||
		etag2 == etag1 || etag2 != ohttp.WorkflowETag(&second) || resp.Header.Get("Location") != "" {
		t.Fatalf("update: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// The same manifest again is no new revision.
	resp, b = put(greeting("hello", "1.1.0", "hello"))
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != etag2 || !strings.Contains(string(b), `"revision":2`) {
		t.Fatalf("unchanged: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// JSON works as for POST, and If-Match may list tags or be *.
	resp, b = g.do(t, http.MethodPut, "/api/v1/workflows/hello", "application/json",
		[]byte(`{"manifest":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"hello","version":"1.2.0"},`+
			`"spec":{"steps":[{"id":"greet","kind":"Agent","ref":"greeter","input":{"word":"hey"}}]}}}`),
		"If-Match", `"stale", `+etag2)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"revision":3`) {
		t.Fatalf("JSON with a list If-Match: %d %s", resp.StatusCode, b)
	}
	resp, b = put(greeting("hello", "1.3.0", "yo"), "If-Match", "*")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"revision":4`) {
		t.Fatalf("If-Match *: %d %s", resp.StatusCode, b)
	}

	before := workflowState(t, g, "hello")
	for _, c := range []struct {
		name    string
		body    []byte
		headers []string
		status  int
		code    string
		field   string
		detail  string
	}{
		{"stale If-Match", greeting("hello", "9.0.0", "x"), []string{"If-Match", etag2}, 412, platform.EPRECONDITION, "If-Match", "has changed"},
		{"weak If-Match", greeting("hello", "9.0.0", "x"), []string{"If-Match", "W/" + etag2}, 412, platform.EPRECONDITION, "If-Match", "has changed"},
		{"other name", greeting("goodbye", "9.0.0", "x"), nil, 422, platform.EINVALID, "/metadata/name", "not valid"},
		{"cycle", []byte(strings.Replace(string(greeting("hello", "9.0.0", "x")), "ref: greeter", "ref: greeter\n      depends_on: [greet]", 1)),
			nil, 422, platform.EINVALID, "/spec/steps/0/depends_on", "not valid"},
		{"not YAML", []byte("kind: [\n"), nil, 400, platform.EBADREQUEST, "body", "cannot be read"},
	} {
		resp, b := put(c.body, c.headers...)
		_, fs := problemNaming(t, resp, b, c.status, c.detail, []string{c.field})
		if p := problemOf(t, resp, b, c.status); p.Code() != c.code {
			t.Errorf("%s: code %q, want %q", c.name, p.Code(), c.code)
		}
		if c.name == "other name" {
			p := problemOf(t, resp, b, c.status)
			if !strings.Contains(fs["/metadata/name"], `must be "hello", the workflow's name in the path`) || p.Errors[0].Line != 4 || p.Errors[0].Column != 9 {
				t.Errorf("other name: %s", b)
			}
		}
		if after := workflowState(t, g, "hello"); after != before {
			t.Errorf("%s changed the workflow: %s, was %s", c.name, after, before)
		}
	}
	resp, b = g.do(t, http.MethodPut, "/api/v1/workflows/hello?dry=1", "application/yaml", greeting("hello", "9.0.0", "x"))
	problemNaming(t, resp, b, http.StatusBadRequest, "query parameters", []string{"dry"})
	// If-Match on a name not stored holds for nothing: nothing is created.
	resp, b = g.do(t, http.MethodPut, "/api/v1/workflows/ghost", "application/yaml", greeting("ghost", "1.0.0", "x"), "If-Match", "*")
	problemNaming(t, resp, b, http.StatusPreconditionFailed, `workflow "ghost" does not exist`, []string{"If-Match"})
	if revisionsOf(t, g, "ghost") != nil {
		t.Error("a refused PUT created the workflow")
	}
	if after := workflowState(t, g, "hello"); after != before {
		t.Errorf("refusals changed the workflow: %s, was %s", after, before)
	}

	// POST of a stored name stays a conflict, and names PUT.
	resp, b = g.do(t, http.MethodPost, "/api/v1/workflows", "application/yaml", greeting("hello", "9.0.0", "x"))
	problemNaming(t, resp, b, http.StatusConflict, "PUT /api/v1/workflows/hello stores a new revision", nil)
	if after := workflowState(t, g, "hello"); after != before {
		t.Errorf("a refused POST changed the workflow: %s, was %s", after, before)
	}
}

// TestWorkflowRevisions checks the revision routes and runs of a chosen
// revision: the list newest first in pages, one revision with its
// definition and manifest, and POST /api/v1/orchestrate with revision.
func TestWorkflowRevisions(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.agent(t, "greeter", "greet", func(c agentCall) (int, string) { return 200, fmt.Sprintf(`{"output":%s}`, c.Input) })
	for i, word := range []string{"hi", "hello", "hey"} {
		resp, b := g.do(t, http.MethodPut, "/api/v1/workflows/hello", "application/yaml", greeting("hello", fmt.Sprintf("1.%d.0", i), word))
		if resp.StatusCode >= 300 {
			t.Fatalf("put %d: %d %s", i, resp.StatusCode, b)
		}
	}
	var got []int
	cursor := ""
	for range 5 {
		path := "/api/v1/workflows/hello/revisions?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		resp, b := g.do(t, http.MethodGet, path, "", nil)
		var list ohttp.RevisionList
		mustUnmarshal(t, b, &list)
		if resp.StatusCode != 200 {
			t.Fatalf("list: %d %s", resp.StatusCode, b)
		}
		for _, r := range list.Items {
			if r.Definition != nil || r.Name != "hello" || r.Version != fmt.Sprintf("1.%d.0", r.Revision-1) {
				t.Fatalf("listed revision %s", b)
			}
			got = append(got, r.Revision)
		}
		if list.NextCursor == nil {
			break
		}
		cursor = *list.NextCursor
	}
	if fmt.Sprint(got) != "[3 2 1]" {
		t.Fatalf("revisions %v, want [3 2 1]", got)
	}
	resp, b := g.do(t, http.MethodGet, "/api/v1/workflows/hello/revisions/1", "", nil)
	var rev platform.WorkflowRevision
	mustUnmarshal(t, b, &rev)
	if resp.StatusCode != 200 || rev.Revision != 1 || !strings.Contains(string(rev.Definition), `"word":"hi"`) {
		t.Fatalf("revision 1: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, http.MethodGet, "/api/v1/workflows/hello/revisions/2/manifest", "", nil)
	if resp.StatusCode != 200 || string(b) != string(greeting("hello", "1.1.0", "hello")) {
		t.Fatalf("manifest of revision 2: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, http.MethodGet, "/api/v1/workflows/hello/revisions/2/manifest", "", nil, "Accept", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"word":"hello"`) {
		t.Fatalf("manifest of revision 2 as JSON: %d %s", resp.StatusCode, b)
	}
	for _, c := range []struct {
		path, detail string
		status       int
	}{
		{"/api/v1/workflows/hello/revisions/4", `workflow "hello" has no revision 4`, 404},
		{"/api/v1/workflows/hello/revisions/0", `has no revision "0"`, 404},
		{"/api/v1/workflows/hello/revisions/01", `has no revision "01"`, 404},
		{"/api/v1/workflows/hello/revisions/two", `has no revision "two"`, 404},
		{"/api/v1/workflows/ghost/revisions/1", `workflow "ghost" not found`, 404},
		{"/api/v1/workflows/ghost/revisions", `workflow "ghost" not found`, 404},
		{"/api/v1/workflows/hello/revisions?cursor=nope", "query parameters", 400},
		{"/api/v1/workflows/hello/revisions?limit=0", "query parameters", 400},
		{"/api/v1/workflows/hello/revisions?since=1", "query parameters", 400},
	} {
		resp, b := g.do(t, http.MethodGet, c.path, "", nil)
		problemNaming(t, resp, b, c.status, c.detail, nil)
	}

	// A run runs the newest revision, or the one it names, and records it.
	for _, c := range []struct {
		body, word, version string
		revision            int
	}{
		{`{"workflow":"hello"}`, "hey", "1.2.0", 3},
		{`{"workflow":"hello","revision":1}`, "hi", "1.0.0", 1},
		{`{"workflow":"hello","revision":null}`, "hey", "1.2.0", 3},
	} {
		resp, b := g.postJSON(t, "/api/v1/orchestrate?wait=30s", c.body)
		var run platform.Run
		mustUnmarshal(t, b, &run)
		if resp.StatusCode != 200 || run.Status != platform.RunSucceeded || run.WorkflowRevision != c.revision ||
			run.WorkflowVersion != c.version || !strings.Contains(string(run.Output), `"word":"`+c.word+`"`) {
			t.Fatalf("%s: %d %s", c.body, resp.StatusCode, b)
		}
	}
	runs := listRuns(t, g)
	for _, c := range []struct {
		body, field string
		status      int
	}{
		{`{"workflow":"hello","revision":0}`, "/revision", 422},
		{`{"workflow":"hello","revision":1.5}`, "/revision", 422},
		{`{"workflow":"hello","revision":"1"}`, "/revision", 422},
		{`{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"inline"},` +
			`"spec":{"steps":[{"id":"greet","kind":"Agent","ref":"greeter"}]}},"revision":1}`, "/revision", 422},
		{`{"workflow":"hello","revision":9}`, "", 404},
	} {
		resp, b := g.postJSON(t, "/api/v1/orchestrate", c.body)
		var want []string
		if c.field != "" {
			want = []string{c.field}
		}
		problemNaming(t, resp, b, c.status, "", want)
	}
	if after := listRuns(t, g); after != runs {
		t.Errorf("refused runs were stored: %s, was %s", after, runs)
	}

	// Deleting the workflow takes its revisions and leaves its runs.
	resp, b = g.do(t, http.MethodDelete, "/api/v1/workflows/hello", "", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, http.MethodGet, "/api/v1/workflows/hello/revisions", "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
	if after := listRuns(t, g); after != runs {
		t.Errorf("runs after deleting their workflow: %s, was %s", after, runs)
	}
}

// TestWorkflowETagCORS checks that a browser on an allowed origin may read
// a workflow's ETag and send it back in If-Match.
func TestWorkflowETagCORS(t *testing.T) {
	t.Parallel()
	g := newGateway(t, func(s *ohttp.Server) { s.CORSOrigins = []string{"http://localhost:3000"} })
	resp, b := g.do(t, http.MethodPut, "/api/v1/workflows/hello", "application/yaml", greeting("hello", "1.0.0", "hi"),
		"Origin", "http://localhost:3000")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Fatalf("PUT from a browser: %d, exposed headers %q: %s", resp.StatusCode, resp.Header.Get("Access-Control-Expose-Headers"), b)
	}
	resp, _ = g.do(t, http.MethodOptions, "/api/v1/workflows/hello", "", nil, "Origin", "http://localhost:3000",
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "if-match, content-type")
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "If-Match") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}
