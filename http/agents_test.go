package http_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

const summarizer = `{"name":"summarizer","type":"worker","capabilities":["summarize"],"endpoint":"http://localhost:9001"}`

func TestAgentLifecycle(t *testing.T) {
	t.Parallel()
	g := newGateway(t)

	resp, b := g.postJSON(t, "/api/v1/agents", `{"name":"summarizer","type":"worker","capabilities":["summarize","translate"],
		"endpoint":"http://localhost:9001","description":"Summarizes","version":"1.0.0",
		"labels":{"team":"nlp","tier":"gold"},"metadata":{"model":"m","n":12345678901234567890}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var a platform.Agent
	mustUnmarshal(t, b, &a)
	if resp.Header.Get("Location") != "/api/v1/agents/"+a.ID {
		t.Fatalf("Location = %q", resp.Header.Get("Location"))
	}
	if a.ID == "" || a.Status != platform.AgentActive || a.Namespace != "default" || a.CreatedAt.IsZero() ||
		!strings.Contains(string(a.Metadata), "12345678901234567890") {
		t.Fatalf("created agent: %s", b)
	}

	for _, ref := range []string{a.ID, "summarizer"} {
		resp, b = g.do(t, "GET", "/api/v1/agents/"+ref, "", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"id":"`+a.ID+`"`) {
			t.Fatalf("get %s: %d %s", ref, resp.StatusCode, b)
		}
	}

	// PUT replaces every writable field; optional ones left out are cleared.
	resp, b = g.do(t, "PUT", "/api/v1/agents/summarizer", "application/json",
		[]byte(`{"name":"summarizer-v2","type":"monitor","capabilities":["watch"],"endpoint":"https://agents.example/s"}`))
	var put platform.Agent
	mustUnmarshal(t, b, &put)
	if resp.StatusCode != http.StatusOK || put.ID != a.ID || put.Name != "summarizer-v2" || put.Description != "" ||
		len(put.Labels) != 0 || !put.UpdatedAt.After(a.UpdatedAt) {
		t.Fatalf("put: %d %s", resp.StatusCode, b)
	}

	// PATCH merges: labels merge, null removes, absent members stay.
	g.do(t, "PATCH", "/api/v1/agents/"+a.ID, "application/merge-patch+json", []byte(`{"labels":{"a":"1","b":"2"}}`))
	resp, b = g.do(t, "PATCH", "/api/v1/agents/"+a.ID, "application/merge-patch+json",
		[]byte(`{"labels":{"a":null,"c":"3"},"status":"inactive","description":"now described"}`))
	var patched platform.Agent
	mustUnmarshal(t, b, &patched)
	if resp.StatusCode != http.StatusOK || patched.Name != "summarizer-v2" || patched.Status != platform.AgentInactive ||
		patched.Description != "now described" || fmt.Sprint(patched.Labels) != "map[b:2 c:3]" {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}

	// A fetched agent can be sent back as it is.
	_, b = g.do(t, "GET", "/api/v1/agents/"+a.ID, "", nil)
	resp, b = g.do(t, "PUT", "/api/v1/agents/"+a.ID, "application/json", b)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("round trip put: %d %s", resp.StatusCode, b)
	}

	resp, b = g.do(t, "DELETE", "/api/v1/agents/"+a.ID, "", nil)
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	resp, b = g.do(t, "GET", "/api/v1/agents/"+a.ID, "", nil)
	problemOf(t, resp, b, http.StatusNotFound)
}

func TestAgentListFiltersAndPages(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	for i := range 7 {
		typ, team := "worker", "a"
		if i%2 == 1 {
			typ, team = "monitor", "b"
		}
		g.register(t, fmt.Sprintf(`{"name":"agent-%d","type":%q,"capabilities":["cap-%d","shared"],
			"endpoint":"http://localhost:900%d","labels":{"team":%q}}`, i, typ, i, i, team))
	}
	list := func(query string) ohttp.AgentList {
		t.Helper()
		resp, b := g.do(t, "GET", "/api/v1/agents?"+query, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list %s: %d %s", query, resp.StatusCode, b)
		}
		var l ohttp.AgentList
		mustUnmarshal(t, b, &l)
		return l
	}
	names := func(l ohttp.AgentList) (out []string) {
		for _, a := range l.Items {
			out = append(out, a.Name)
		}
		return out
	}
	for query, want := range map[string][]string{
		"type=monitor":                          {"agent-1", "agent-3", "agent-5"},
		"capability=cap-4":                      {"agent-4"},
		"capability=shared&label=team:b":        {"agent-1", "agent-3", "agent-5"},
		"status=inactive":                       nil,
		"label=team:a&label=team:a&type=worker": {"agent-0", "agent-2", "agent-4", "agent-6"},
	} {
		if got := names(list(query)); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", query, got, want)
		}
	}
	var all []string
	query := "limit=3"
	for {
		l := list(query)
		all = append(all, names(l)...)
		if l.NextCursor == nil {
			break
		}
		query = "limit=3&cursor=" + url.QueryEscape(*l.NextCursor)
	}
	if len(all) != 7 || all[0] != "agent-0" || all[6] != "agent-6" {
		t.Fatalf("paged: %v", all)
	}
}

// TestAgentBadInput sends every kind of bad request and checks the problem
// the caller gets and that nothing stored changed.
func TestAgentBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.register(t, summarizer)
	g.register(t, `{"name":"other","type":"monitor","capabilities":[],"endpoint":"http://localhost:9002"}`)
	before := g.snapshot(t)

	big := `{"name":"big","type":"worker","capabilities":[],"endpoint":"http://x","description":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		fields                                []string // fields the problem must name
		detail                                string   // text the detail must contain
	}{
		{"malformed", "POST", "/api/v1/agents", "application/json", "{\n  \"name\": \"x\",\n  \"type\" \"worker\"\n}", 400, []string{"body"}, "line 3, column 10"},
		{"truncated", "POST", "/api/v1/agents", "application/json", `{"name":"x"`, 400, []string{"body"}, "ends early"},
		{"empty", "POST", "/api/v1/agents", "application/json", ``, 400, nil, "empty"},
		{"not an object", "POST", "/api/v1/agents", "application/json", `[1,2]`, 400, nil, "JSON object"},
		{"null", "POST", "/api/v1/agents", "application/json", `null`, 400, nil, "JSON object"},
		{"trailing data", "POST", "/api/v1/agents", "application/json", summarizer + `{}`, 400, []string{"body"}, "after the object"},
		{"unknown fields", "POST", "/api/v1/agents", "application/json",
			`{"name":"n","type":"worker","endpoint":"http://x","colour":"red","size":3}`, 400, []string{"/colour", "/size"}, "colour, size"},
		{"invalid values", "POST", "/api/v1/agents", "application/json",
			`{"name":"Bad_Name","type":"boss","capabilities":["ok",""],"endpoint":"ftp://x","labels":{"k":"bad value"},"metadata":[1]}`,
			422, []string{"/name", "/type", "/capabilities/1", "/endpoint", "/labels/k", "/metadata"}, "not valid"},
		{"empty endpoint", "POST", "/api/v1/agents", "application/json", `{"name":"n","type":"worker","endpoint":""}`, 422,
			[]string{"/endpoint"}, "not valid"},
		{"missing fields", "POST", "/api/v1/agents", "application/json", `{"capabilities":["x"]}`, 422,
			[]string{"/name", "/type", "/endpoint"}, "not valid"},
		{"wrong JSON types", "POST", "/api/v1/agents", "application/json",
			`{"name":7,"type":"worker","capabilities":["a",2],"endpoint":"http://x","labels":"x"}`, 422,
			[]string{"/name", "/capabilities/1", "/labels"}, "not valid"},
		{"duplicate name", "POST", "/api/v1/agents", "application/json", summarizer, 409, nil, "already exists"},
		{"too large", "POST", "/api/v1/agents", "application/json", big, 413, nil, "limit"},
		{"wrong media type", "POST", "/api/v1/agents", "text/plain", summarizer, 415, []string{"Content-Type"}, "application/json"},
		{"unknown route", "GET", "/api/v1/nothing", "", "", 404, nil, "no route"},
		{"unknown agent", "GET", "/api/v1/agents/ghost", "", "", 404, nil, "ghost"},
		{"put unknown agent", "PUT", "/api/v1/agents/ghost", "application/json", summarizer, 404, nil, "ghost"},
		{"put invalid", "PUT", "/api/v1/agents/summarizer", "application/json",
			`{"name":"summarizer","type":"worker","endpoint":"nope"}`, 422, []string{"/endpoint"}, "not valid"},
		{"put rename onto taken name", "PUT", "/api/v1/agents/summarizer", "application/json",
			`{"name":"other","type":"worker","endpoint":"http://x"}`, 409, nil, "already exists"},
		{"patch invalid", "PATCH", "/api/v1/agents/summarizer", "application/merge-patch+json", `{"type":"boss","capabilities":[""]}`,
			422, []string{"/type", "/capabilities/0"}, "not valid"},
		{"patch unknown field", "PATCH", "/api/v1/agents/summarizer", "application/merge-patch+json", `{"colour":"red"}`,
			400, []string{"/colour"}, "colour"},
		{"patch removes required", "PATCH", "/api/v1/agents/summarizer", "application/merge-patch+json", `{"endpoint":null}`,
			422, []string{"/endpoint"}, "not valid"},
		{"patch malformed", "PATCH", "/api/v1/agents/summarizer", "application/merge-patch+json", `{"type":`, 400, nil, "malformed"},
		{"delete unknown", "DELETE", "/api/v1/agents/ghost", "", "", 404, nil, "ghost"},
		{"list bad query", "GET", "/api/v1/agents?type=boss&limit=500&cursor=zz&label=nocolon&color=red", "", "", 400,
			[]string{"type", "limit", "cursor", "label", "color"}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := g.do(t, tt.method, tt.path, tt.contentType, []byte(tt.body))
			_, got := problemNaming(t, resp, b, tt.status, tt.detail, tt.fields)
			if tt.fields != nil && len(got) != len(tt.fields) {
				t.Errorf("problem names %d fields, want %d: %s", len(got), len(tt.fields), b)
			}
			if after := g.snapshot(t); after != before {
				t.Fatalf("the store changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	resp, b := g.do(t, "DELETE", "/api/v1/agents", "", nil)
	problemOf(t, resp, b, http.StatusMethodNotAllowed)
	allow := resp.Header.Get("Allow")
	for _, m := range []string{"GET", "POST"} {
		if !strings.Contains(allow, m) {
			t.Fatalf("Allow = %q, lacks %s", allow, m)
		}
	}
}
