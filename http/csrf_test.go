package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
)

// formTypes are the Content-Types a page of any site can POST with, from an
// HTML form or a fetch in no-cors mode, without a CORS preflight; "" is a
// POST without a body or a type (a form of method POST and no fields, a
// bodyless fetch).
var formTypes = []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
	"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", ""}

// TestCrossSiteFormCannotCancelRun sends a running run's cancel as a
// browser's cross-site form or no-cors fetch would: each gets a 415
// problem saying what to send, and the run goes on.
func TestCrossSiteFormCannotCancelRun(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	called := make(chan struct{}, 1)
	release := make(chan struct{})
	g.agent(t, "slow", "wait", func(agentCall) (int, string) {
		select {
		case called <- struct{}{}:
		default:
		}
		<-release
		return 200, `"done"`
	})
	t.Cleanup(func() { close(release) })
	resp, b := g.postJSON(t, "/api/v1/orchestrate", `{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow",
		"metadata":{"name":"slow"},"spec":{"steps":[{"id":"wait","kind":"Agent","ref":"slow"}]}}}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("orchestrate: %d %s", resp.StatusCode, b)
	}
	var acc ohttp.OrchestrateAccepted
	mustUnmarshal(t, b, &acc)
	select {
	case <-called:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent was never called")
	}

	for _, ct := range formTypes {
		body := []byte("a=1")
		if ct == "" {
			body = nil
		}
		resp, b := g.do(t, "POST", "/api/v1/runs/"+acc.RunID+"/cancel", ct, body,
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		_, fields := problemNaming(t, resp, b, http.StatusUnsupportedMediaType, "application/json", []string{"Content-Type"})
		if !strings.Contains(fields["Content-Type"], `"`+ct+`"`) {
			t.Errorf("Content-Type %q: the problem does not say what was sent: %s", ct, b)
		}
	}
	run, err := g.db.FindRun(context.Background(), platform.DefaultNamespace, acc.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.CancelRequested || run.Status != platform.RunRunning {
		t.Fatalf("the run was touched: status %s, cancel requested %v", run.Status, run.CancelRequested)
	}

	// The same request with a JSON type, and no body, cancels it.
	resp, b = g.do(t, "POST", "/api/v1/runs/"+acc.RunID+"/cancel", "application/json", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel as JSON: %d %s", resp.StatusCode, b)
	}
}

// TestPostNeedsJSONOrYAML checks that every POST route refuses the types a
// cross-site form can send before it reads or stores anything, and that the
// gate lets every JSON and YAML type through to the route.
func TestPostNeedsJSONOrYAML(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	a := g.register(t, agentBody("target"))
	before := g.snapshot(t)
	paths := []string{"/api/v1/agents", "/api/v1/workflows", "/api/v1/validate", "/api/v1/orchestrate",
		"/api/v1/agents/" + a.ID + "/execute", "/api/v1/runs/01936f3a-2b4c-7d5e-8f60-718293a4b5c6/cancel"}
	for _, path := range paths {
		for _, ct := range formTypes {
			resp, b := g.do(t, "POST", path, ct, []byte(agentBody("forged")))
			problemNaming(t, resp, b, http.StatusUnsupportedMediaType, "even without a body", []string{"Content-Type"})
		}
	}
	if after := g.snapshot(t); after != before {
		t.Fatalf("agents changed:\n%s\n%s", before, after)
	}
	if runs := g.runs(t); len(runs) != 0 {
		t.Fatalf("%d run(s) stored", len(runs))
	}
	// Past the gate, the cancel of an unknown run is a 404, whatever the
	// JSON or YAML type.
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json",
		"application/vnd.ossa+json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"} {
		resp, b := g.do(t, "POST", paths[len(paths)-1], ct, nil)
		problemOf(t, resp, b, http.StatusNotFound)
	}
	// Other methods need a preflight anyway and are not held to it.
	if resp, b := g.do(t, "DELETE", "/api/v1/agents/"+a.ID, "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete without a type: %d %s", resp.StatusCode, b)
	}
}
