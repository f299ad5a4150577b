package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/engine"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// Keys of keyAuth, the test's Authenticator: each a principal of its own.
const (
	keyA      = "key-a"      // acts in and sees team-a alone
	keyB      = "key-b"      // acts in and sees team-b alone
	keyShare  = "key-share"  // acts in team-a, sees team-a and shared
	keyAgents = "key-agents" // acts in team-a, may read and write its agents alone
)

// keyAuth authenticates "Authorization: Bearer <key>" with the keys above,
// counting the requests it is asked about; anything else is refused.
func keyAuth(asked *atomic.Int64) ohttp.Authenticator {
	principals := map[string]*platform.Principal{
		keyA: {Kind: platform.PrincipalAPIKey, Subject: keyA, Namespace: "team-a", Namespaces: []string{"team-a"},
			Scopes: []platform.Scope{platform.ScopeAdmin}},
		keyB: {Kind: platform.PrincipalAPIKey, Subject: keyB, Namespace: "team-b", Namespaces: []string{"team-b"},
			Scopes: []platform.Scope{platform.ScopeAdmin}},
		keyShare: {Kind: platform.PrincipalAPIKey, Subject: keyShare, Namespace: "team-a", Namespaces: []string{"team-a", "shared"},
			Scopes: []platform.Scope{platform.ScopeAdmin}},
		keyAgents: {Kind: platform.PrincipalAPIKey, Subject: keyAgents, Namespace: "team-a", Namespaces: []string{"team-a"},
			Scopes: []platform.Scope{platform.ScopeAgentsRead, platform.ScopeAgentsWrite}},
	}
	return ohttp.AuthenticatorFunc(func(r *http.Request) (*platform.Principal, error) {
		asked.Add(1)
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p := principals[key]
		if !ok || p == nil {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "no valid API key")
		}
		q := *p // a principal per request, as a real Authenticator makes
		return &q, nil
	})
}

// newTenantGateway is a gateway that authenticates with keyAuth.
func newTenantGateway(t *testing.T) (*gateway, *atomic.Int64) {
	t.Helper()
	asked := new(atomic.Int64)
	db := ossatest.SQLite(t)
	srv := ossatest.Start(t, ossatest.WithStore(db), ossatest.WithGateway(func(s *ohttp.Server) {
		s.Authenticator, s.Keys = keyAuth(asked), db
	})).Gateway
	return &gateway{Server: srv, db: db}, asked
}

// as sends a request with key's credentials (none when key is "").
func (g *gateway) as(t *testing.T, key, method, path, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	if key != "" {
		headers = append(headers, "Authorization", "Bearer "+key)
	}
	return g.do(t, method, path, contentType, body, headers...)
}

// tenantState is what namespace ns holds, read from the store: its agents
// (without their health, which calls change), its workflows with their
// revisions, its runs with their steps, and its secrets.
func tenantState(t *testing.T, g *gateway, ns string) string {
	t.Helper()
	ctx := context.Background()
	agents, err := g.db.ListAgents(ctx, platform.AgentFilter{Namespace: ns, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agents.Items {
		a.Health = platform.AgentHealth{}
	}
	workflows, err := g.db.ListWorkflows(ctx, platform.WorkflowFilter{Namespace: ns, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var revisions []any
	for _, w := range workflows.Items {
		page, err := g.db.ListWorkflowRevisions(ctx, platform.RevisionFilter{Namespace: ns, Workflow: w.ID, Limit: platform.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		revisions = append(revisions, page.Items)
	}
	list, err := g.db.ListRuns(ctx, platform.RunFilter{Namespace: ns, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var runs []*platform.Run
	for _, r := range list.Items {
		run, err := g.db.FindRun(ctx, ns, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	secrets, err := g.db.ListSecrets(ctx, platform.SecretFilter{Namespace: ns, Limit: platform.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal([]any{agents.Items, workflows.Items, revisions, runs, secrets.Items})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// relay is a workflow whose steps call the echo agent by name and by
// capability.
func relay(version string) []byte {
	return fmt.Appendf(nil, "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata:\n  name: relay\n  version: %q\nspec:\n  steps:\n"+
		"    - id: byname\n      kind: Agent\n      ref: echo\n      input: {word: hi}\n"+
		"    - id: bycap\n      kind: Agent\n      capability: echo\n      depends_on: [byname]\n", version)
}

// TestTenancyEveryRoute drives every route as a principal of team-a, which
// owns what it reads, and of team-b, which must see none of it: what team-a
// creates lands in team-a, what it reads comes from team-a, and team-b's
// requests for team-a's resources are 404s (never 403s, which would say they
// exist) that change nothing. An agent of the default namespace with team-a's
// names is never called. A route the table does not cover fails the test,
// so a new route must say how it treats namespaces.
func TestTenancyEveryRoute(t *testing.T) {
	t.Parallel()
	g, asked := newTenantGateway(t)
	ctx := context.Background()

	// The default namespace holds an agent of the names team-a uses, which
	// a handler or an engine that forgot the namespace would find.
	var decoyCalls atomic.Int64
	decoy := &platform.Agent{Name: "echo", Type: platform.AgentWorker, Capabilities: []string{"echo"},
		Endpoint: agentServer(t, func(agentCall) (int, string) { decoyCalls.Add(1); return 200, `{"output":{"from":"decoy"}}` })}
	decoy.Normalize()
	if err := g.db.CreateAgent(ctx, decoy); err != nil {
		t.Fatal(err)
	}
	defaultBefore := tenantState(t, g, platform.DefaultNamespace)

	var echoCalls atomic.Int64
	echoURL := agentServer(t, func(c agentCall) (int, string) {
		echoCalls.Add(1)
		return 200, fmt.Sprintf(`{"output":{"from":"team-a","step":%q}}`, c.Step)
	})
	created := func(resp *http.Response, b []byte, what string, v any) {
		t.Helper()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("team-a creates %s: %d %s", what, resp.StatusCode, b)
		}
		mustUnmarshal(t, b, v)
	}
	var echo, reviewer platform.Agent
	resp, b := g.as(t, keyA, "POST", "/api/v1/agents", "application/json",
		fmt.Appendf(nil, `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":%q}`, echoURL))
	created(resp, b, "an agent", &echo)
	resp, b = g.as(t, keyA, "POST", "/api/v1/agents?endpoint="+echoURL, "application/yaml", readTestdata(t, "agent.yaml"))
	created(resp, b, "an agent from a manifest", &reviewer)
	var wf platform.Workflow
	resp, b = g.as(t, keyA, "POST", "/api/v1/workflows", "application/yaml", relay("1.0.0"))
	created(resp, b, "a workflow", &wf)
	resp, b = g.as(t, keyA, "POST", "/api/v1/orchestrate?wait=30s", "application/json", []byte(`{"workflow":"relay"}`))
	var run platform.Run
	if mustUnmarshal(t, b, &run); resp.StatusCode != http.StatusOK || run.Status != platform.RunSucceeded {
		t.Fatalf("team-a runs relay: %d %s", resp.StatusCode, b)
	}
	for _, name := range []string{"token", "only-a"} {
		resp, b = g.as(t, keyA, "PUT", "/api/v1/secrets/"+name, "application/json", []byte(`{"value":"team-a's value"}`))
		var sec platform.Secret
		created(resp, b, "a secret", &sec)
		if sec.Namespace != "team-a" {
			t.Fatalf("team-a's secret is in namespace %q", sec.Namespace)
		}
	}
	for _, x := range []struct{ what, ns string }{{"agent", echo.Namespace}, {"manifest's agent", reviewer.Namespace},
		{"workflow", wf.Namespace}, {"run", run.Namespace}} {
		if x.ns != "team-a" {
			t.Fatalf("team-a's %s is in namespace %q", x.what, x.ns)
		}
	}

	teamKey := &platform.APIKey{Name: "ci", Namespace: "team-a", Namespaces: []string{"team-a"}, Scopes: []platform.Scope{platform.ScopeRunsRead}}
	_, teamKey.Prefix, teamKey.Hash = platform.NewAPIKeySecret()
	if err := g.db.CreateKey(ctx, teamKey); err != nil {
		t.Fatal(err)
	}

	// listed checks a list's items: all of the caller's namespace, and,
	// for team-a, holding id.
	listed := func(id string) func(t *testing.T, ns string, b []byte) {
		return func(t *testing.T, ns string, b []byte) {
			var page ohttp.Page[struct{ ID, Namespace string }]
			mustUnmarshal(t, b, &page)
			var ids []string
			for _, it := range page.Items {
				if it.Namespace != ns {
					t.Errorf("%s's list holds an item of namespace %q: %s", ns, it.Namespace, b)
				}
				ids = append(ids, it.ID)
			}
			if slices.Contains(ids, id) != (ns == "team-a") {
				t.Errorf("%s's list has %s: %v; only team-a's should", ns, id, ids)
			}
		}
	}
	// discovered checks that a discovery found id for team-a alone.
	discovered := func(id string) func(t *testing.T, ns string, b []byte) {
		return func(t *testing.T, ns string, b []byte) {
			var res struct {
				Items []struct {
					Agent struct{ ID, Namespace string }
				}
			}
			mustUnmarshal(t, b, &res)
			found := false
			for _, it := range res.Items {
				if it.Agent.Namespace != ns {
					t.Errorf("%s's discovery found an agent of namespace %q: %s", ns, it.Agent.Namespace, b)
				}
				found = found || it.Agent.ID == id
			}
			if found != (ns == "team-a") {
				t.Errorf("%s's discovery found %s: %v; only team-a's should: %s", ns, id, found, b)
			}
		}
	}
	// inNamespace checks that the answer is a resource of the caller's
	// namespace.
	inNamespace := func(t *testing.T, ns string, b []byte) {
		var v struct{ Namespace string }
		mustUnmarshal(t, b, &v)
		if v.Namespace != ns {
			t.Errorf("%s got a resource of namespace %q: %s", ns, v.Namespace, b)
		}
	}
	// executed checks that team-a's call reached team-a's agent.
	executed := func(t *testing.T, ns string, b []byte) {
		var ex platform.Execution
		mustUnmarshal(t, b, &ex)
		if ex.Agent != "echo" || !strings.Contains(string(ex.Output), `"team-a"`) {
			t.Errorf("execute reached another agent: %s", b)
		}
	}
	// ran checks that team-a's run ran in team-a, on team-a's agent.
	ran := func(t *testing.T, ns string, b []byte) {
		var r platform.Run
		mustUnmarshal(t, b, &r)
		if r.Namespace != ns || r.Status != platform.RunSucceeded || len(r.Steps) != 2 {
			t.Fatalf("run: %s", b)
		}
		for _, s := range r.Steps {
			if !strings.Contains(string(s.Output), `"team-a"`) {
				t.Errorf("step %s reached another agent: %s", s.ID, s.Output)
			}
		}
	}

	// secretsListed checks a list of secrets: all of the caller's
	// namespace, and only team-a's holding only-a.
	secretsListed := func(t *testing.T, ns string, b []byte) {
		var page ohttp.SecretList
		mustUnmarshal(t, b, &page)
		var names []string
		for _, s := range page.Items {
			if s.Namespace != ns {
				t.Errorf("%s's list holds a secret of namespace %q: %s", ns, s.Namespace, b)
			}
			names = append(names, s.Name)
		}
		if slices.Contains(names, "only-a") != (ns == "team-a") {
			t.Errorf("%s's secrets: %v", ns, names)
		}
	}
	// audited checks that an audit log holds only records of the caller's
	// namespace, and, for team-a, its changes.
	audited := func(t *testing.T, ns string, b []byte) {
		var page ohttp.AuditList
		mustUnmarshal(t, b, &page)
		for _, a := range page.Items {
			if a.Namespace != ns {
				t.Errorf("%s's audit log holds a record of namespace %q: %s", ns, a.Namespace, b)
			}
		}
		if ns == "team-a" && len(page.Items) == 0 {
			t.Errorf("team-a's audit log is empty")
		}
	}

	agentJSON := fmt.Appendf(nil, `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":%q,"description":"replaced"}`, echoURL)
	validate, _ := json.Marshal(map[string]string{"manifest": string(readTestdata(t, "agent.yaml"))})
	type row struct {
		route       string // the pattern it covers
		method      string
		path        string
		contentType string
		body        []byte
		// a and b are the statuses team-a and team-b get.
		a, b int
		// stream: the answer is an event stream, closed once it starts.
		stream bool
		// check, when set, checks a success's body, for either team.
		check func(t *testing.T, ns string, body []byte)
	}
	// In order: team-b's request first, then team-a's, so the deletes come
	// last. team-b looks team-a's resources up by ID, so that a request for
	// what it created itself is never taken for a leak.
	rows := []row{
		{route: "GET /health", method: "GET", path: "/health", a: 200, b: 200},
		{route: "GET /healthz", method: "GET", path: "/healthz", a: 200, b: 200},
		{route: "GET /readyz", method: "GET", path: "/readyz", a: 200, b: 200},
		{route: "GET /metrics", method: "GET", path: "/metrics", a: 200, b: 200},
		{route: "GET /api/v1/metrics", method: "GET", path: "/api/v1/metrics", a: 200, b: 200},
		{route: "GET /openapi.json", method: "GET", path: "/openapi.json", a: 200, b: 200},
		{route: "POST /api/v1/validate", method: "POST", path: "/api/v1/validate", contentType: "application/json", body: validate, a: 200, b: 200},
		{route: "GET /api/v1/agents", method: "GET", path: "/api/v1/agents", a: 200, b: 200, check: listed(echo.ID)},
		{route: "GET /api/v1/agents/search", method: "GET", path: "/api/v1/agents/search?q=echo", a: 200, b: 200, check: discovered(echo.ID)},
		{route: "POST /api/v1/discover", method: "POST", path: "/api/v1/discover", contentType: "application/json",
			body: []byte(`{"query":"an agent that can echo"}`), a: 200, b: 200, check: discovered(echo.ID)},
		{route: "POST /api/v1/discover/reindex", method: "POST", path: "/api/v1/discover/reindex", contentType: "application/json", a: 202, b: 202},
		{route: "GET /api/v1/agents/{ref}", method: "GET", path: "/api/v1/agents/" + echo.ID, a: 200, b: 404, check: inNamespace},
		{route: "GET /api/v1/agents/{ref}/manifest", method: "GET", path: "/api/v1/agents/" + reviewer.ID + "/manifest", a: 200, b: 404},
		{route: "PUT /api/v1/agents/{ref}", method: "PUT", path: "/api/v1/agents/" + echo.ID, contentType: "application/json", body: agentJSON,
			a: 200, b: 404, check: inNamespace},
		{route: "PATCH /api/v1/agents/{ref}", method: "PATCH", path: "/api/v1/agents/" + echo.ID, contentType: "application/merge-patch+json",
			body: []byte(`{"labels":{"patched":"yes"}}`), a: 200, b: 404, check: inNamespace},
		{route: "POST /api/v1/agents/{ref}/execute", method: "POST", path: "/api/v1/agents/" + echo.ID + "/execute", contentType: "application/json",
			body: []byte(`{"capability":"echo","input":{}}`), a: 200, b: 404, check: executed},
		// Names are the namespace's own: both teams create "extra".
		{route: "POST /api/v1/agents", method: "POST", path: "/api/v1/agents", contentType: "application/json",
			body: []byte(`{"name":"extra","type":"worker","endpoint":"http://127.0.0.1:1"}`), a: 201, b: 201, check: inNamespace},
		{route: "GET /api/v1/workflows", method: "GET", path: "/api/v1/workflows", a: 200, b: 200, check: listed(wf.ID)},
		{route: "GET /api/v1/workflows/{ref}", method: "GET", path: "/api/v1/workflows/" + wf.ID, a: 200, b: 404, check: inNamespace},
		{route: "GET /api/v1/workflows/{ref}/manifest", method: "GET", path: "/api/v1/workflows/" + wf.ID + "/manifest", a: 200, b: 404},
		{route: "GET /api/v1/workflows/{ref}/revisions", method: "GET", path: "/api/v1/workflows/" + wf.ID + "/revisions", a: 200, b: 404},
		{route: "GET /api/v1/workflows/{ref}/revisions/{n}", method: "GET", path: "/api/v1/workflows/" + wf.ID + "/revisions/1", a: 200, b: 404},
		{route: "GET /api/v1/workflows/{ref}/revisions/{n}/manifest", method: "GET", path: "/api/v1/workflows/" + wf.ID + "/revisions/1/manifest",
			a: 200, b: 404},
		{route: "POST /api/v1/orchestrate", method: "POST", path: "/api/v1/orchestrate?wait=30s", contentType: "application/json",
			body: []byte(`{"workflow":"` + wf.ID + `"}`), a: 200, b: 404, check: ran},
		{route: "POST /api/v1/workflows", method: "POST", path: "/api/v1/workflows", contentType: "application/yaml", body: relay("1.0.0"),
			a: 409, b: 201, check: inNamespace},
		// Each team's PUT of the name stores a revision of its own relay.
		{route: "PUT /api/v1/workflows/{ref}", method: "PUT", path: "/api/v1/workflows/relay", contentType: "application/yaml", body: relay("2.0.0"),
			a: 200, b: 200, check: inNamespace},
		{route: "GET /api/v1/runs", method: "GET", path: "/api/v1/runs", a: 200, b: 200, check: listed(run.ID)},
		{route: "GET /api/v1/runs/{id}", method: "GET", path: "/api/v1/runs/" + run.ID, a: 200, b: 404, check: ran},
		{route: "GET /api/v1/runs/{id}/events", method: "GET", path: "/api/v1/runs/" + run.ID + "/events", a: 200, b: 404, stream: true},
		{route: "POST /api/v1/runs/{id}/cancel", method: "POST", path: "/api/v1/runs/" + run.ID + "/cancel", contentType: "application/json",
			a: 200, b: 404, check: ran},
		// The streams' namespaces are TestTenancyEventStreams'.
		{route: "GET /api/v1/events", method: "GET", path: "/api/v1/events", a: 200, b: 200, stream: true},
		{route: "GET /ws", method: "GET", path: "/ws", a: 426, b: 426},
		{route: "POST /api/v1/events/tickets", method: "POST", path: "/api/v1/events/tickets", contentType: "application/json",
			a: 201, b: 201, check: inNamespace},
		{route: "POST /api/v1/keys", method: "POST", path: "/api/v1/keys", contentType: "application/json",
			body: []byte(`{"name":"extra","scopes":["agents:read"]}`), a: 201, b: 201, check: inNamespace},
		{route: "GET /api/v1/keys", method: "GET", path: "/api/v1/keys", a: 200, b: 200, check: listed(teamKey.ID)},
		{route: "DELETE /api/v1/keys/{id}", method: "DELETE", path: "/api/v1/keys/" + teamKey.ID, a: 200, b: 404, check: inNamespace},
		// Secret names are the namespace's own: team-b's PUT creates its own
		// token, team-a's replaces team-a's.
		{route: "PUT /api/v1/secrets/{name}", method: "PUT", path: "/api/v1/secrets/token", contentType: "application/json",
			body: []byte(`{"value":"a value"}`), a: 200, b: 201, check: inNamespace},
		{route: "GET /api/v1/secrets", method: "GET", path: "/api/v1/secrets", a: 200, b: 200, check: secretsListed},
		{route: "DELETE /api/v1/secrets/{name}", method: "DELETE", path: "/api/v1/secrets/only-a", a: 204, b: 404},
		{route: "GET /api/v1/audit", method: "GET", path: "/api/v1/audit", a: 200, b: 200, check: audited},
		{route: "DELETE /api/v1/agents/{ref}", method: "DELETE", path: "/api/v1/agents/" + echo.ID, a: 204, b: 404},
		{route: "DELETE /api/v1/workflows/{ref}", method: "DELETE", path: "/api/v1/workflows/" + wf.ID, a: 204, b: 404},
	}

	send := func(t *testing.T, key string, r row) (*http.Response, []byte) {
		t.Helper()
		if !r.stream {
			return g.as(t, key, r.method, r.path, r.contentType, r.body)
		}
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, r.method, g.URL()+r.path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("%s: a 200 of %s", r.route, ct)
		}
		return resp, nil
	}
	covered := map[string]bool{}
	for _, r := range rows {
		covered[r.route] = true
		t.Run(r.route, func(t *testing.T) {
			teamA := tenantState(t, g, "team-a")
			resp, b := send(t, keyB, r)
			if resp.StatusCode != r.b {
				t.Fatalf("team-b: %d %s, want %d", resp.StatusCode, b, r.b)
			}
			if r.b == http.StatusNotFound {
				problemOf(t, resp, b, http.StatusNotFound)
			}
			if r.check != nil && r.b < 300 {
				r.check(t, "team-b", b)
			}
			if got := tenantState(t, g, "team-a"); got != teamA {
				t.Fatalf("team-b's %s %s changed team-a:\n%s\nwas\n%s", r.method, r.path, got, teamA)
			}
			resp, b = send(t, keyA, r)
			if resp.StatusCode != r.a {
				t.Fatalf("team-a: %d %s, want %d", resp.StatusCode, b, r.a)
			}
			if r.check != nil && r.a < 300 {
				r.check(t, "team-a", b)
			}
		})
	}
	for _, route := range g.Routes() {
		if !covered[route] {
			t.Errorf("route %s is not covered: say what each team gets from it", route)
		}
	}

	// Nothing reached, changed or landed in the default namespace.
	if n := decoyCalls.Load(); n != 0 {
		t.Errorf("the default namespace's agent was called %d time(s)", n)
	}
	if echoCalls.Load() == 0 {
		t.Error("team-a's agent was never called")
	}
	if got := tenantState(t, g, platform.DefaultNamespace); got != defaultBefore {
		t.Errorf("the default namespace changed:\n%s\nwas\n%s", got, defaultBefore)
	}
	// team-b's creations are team-b's.
	if _, err := g.db.FindAgent(ctx, "team-b", "extra"); err != nil {
		t.Errorf("team-b's agent: %v", err)
	}
	if w, err := g.db.FindWorkflow(ctx, "team-b", "relay"); err != nil || w.Revision != 2 {
		t.Errorf("team-b's workflow: %+v, %v", w, err)
	}

	// Every route but the probes asks the Authenticator: without
	// credentials each is a 401 problem.
	for _, r := range rows {
		before := asked.Load()
		resp, b := g.do(t, r.method, r.path, r.contentType, r.body)
		switch r.path {
		case "/healthz", "/readyz":
			if resp.StatusCode != 200 || asked.Load() != before {
				t.Errorf("%s without credentials: %d, asked %d time(s)", r.path, resp.StatusCode, asked.Load()-before)
			}
		default:
			problemOf(t, resp, b, http.StatusUnauthorized)
			if asked.Load() != before+1 {
				t.Errorf("%s: the Authenticator was asked %d time(s)", r.route, asked.Load()-before)
			}
		}
	}
}

// TestTenancyOrchestrateForms runs a workflow of team-a by revision and an
// inline one as team-a and as team-b: each finds agents and workflows of
// its own namespace only.
func TestTenancyOrchestrateForms(t *testing.T) {
	t.Parallel()
	g, _ := newTenantGateway(t)
	url := agentServer(t, func(agentCall) (int, string) { return 200, `{"output":{"from":"team-a"}}` })
	if resp, b := g.as(t, keyA, "POST", "/api/v1/agents", "application/json",
		fmt.Appendf(nil, `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":%q}`, url)); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if resp, b := g.as(t, keyA, "PUT", "/api/v1/workflows/relay", "application/yaml", relay(v)); resp.StatusCode >= 300 {
			t.Fatalf("put relay %s: %d %s", v, resp.StatusCode, b)
		}
	}
	inline, _ := json.Marshal(map[string]any{"workflow": map[string]any{"apiVersion": "ossa/v0.4.6", "kind": "Workflow",
		"metadata": map[string]any{"name": "inline"},
		"spec":     map[string]any{"steps": []any{map[string]any{"id": "one", "kind": "Agent", "ref": "echo"}}}}})
	for _, body := range [][]byte{[]byte(`{"workflow":"relay","revision":1}`), inline} {
		resp, b := g.as(t, keyA, "POST", "/api/v1/orchestrate?wait=30s", "application/json", body)
		var run platform.Run
		mustUnmarshal(t, b, &run)
		if resp.StatusCode != 200 || run.Status != platform.RunSucceeded || run.Namespace != "team-a" {
			t.Fatalf("team-a orchestrates %s: %d %s", body, resp.StatusCode, b)
		}
		if _, err := g.db.FindRun(context.Background(), "team-a", run.ID); err != nil {
			t.Fatalf("team-a's run is not in team-a: %v", err)
		}
	}
	teamB := tenantState(t, g, "team-b")
	resp, b := g.as(t, keyB, "POST", "/api/v1/orchestrate", "application/json", []byte(`{"workflow":"relay","revision":1}`))
	problemOf(t, resp, b, http.StatusNotFound)
	resp, b = g.as(t, keyB, "POST", "/api/v1/orchestrate", "application/json", inline)
	_, f := problemNaming(t, resp, b, http.StatusUnprocessableEntity, "cannot start", []string{"/workflow/spec/steps/0/ref"})
	if !strings.Contains(f["/workflow/spec/steps/0/ref"], `"echo" is not registered`) {
		t.Errorf("team-b's inline run found team-a's agent: %s", b)
	}
	if got := tenantState(t, g, "team-b"); got != teamB {
		t.Fatalf("refused runs changed team-b: %s", got)
	}
}

// TestTenancyNamespaceHeader checks X-OSSA-Namespace: a principal acts in
// another namespace it sees when it names it; naming one it does not see
// is a 403, and a malformed one a 400, that store nothing.
func TestTenancyNamespaceHeader(t *testing.T) {
	t.Parallel()
	g, _ := newTenantGateway(t)
	body := []byte(agentBody("scout"))

	resp, b := g.as(t, keyShare, "POST", "/api/v1/agents", "application/json", body, ohttp.NamespaceHeader, "shared")
	var a platform.Agent
	if mustUnmarshal(t, b, &a); resp.StatusCode != 201 || a.Namespace != "shared" {
		t.Fatalf("create in shared: %d %s", resp.StatusCode, b)
	}
	if resp, b := g.as(t, keyShare, "GET", "/api/v1/agents/scout", "", nil); resp.StatusCode != 404 {
		t.Fatalf("without the header the principal acts in its own namespace: %d %s", resp.StatusCode, b)
	}
	if resp, b := g.as(t, keyShare, "GET", "/api/v1/agents/scout", "", nil, ohttp.NamespaceHeader, "shared"); resp.StatusCode != 200 {
		t.Fatalf("read in shared: %d %s", resp.StatusCode, b)
	}

	before := tenantState(t, g, "team-b") + tenantState(t, g, "team-a") + tenantState(t, g, "shared")
	for _, tt := range []struct {
		name, key, ns string
		status        int
		detail        string
	}{
		{"a namespace the principal does not see", keyA, "shared", 403, `namespace "shared"`},
		{"another team's", keyShare, "team-b", 403, `namespace "team-b"`},
		{"not a name", keyA, "Team_A", 400, ohttp.NamespaceHeader},
		{"every namespace", keyA, "*", 400, ohttp.NamespaceHeader},
		{"empty", keyA, " ", 400, ohttp.NamespaceHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := g.as(t, tt.key, "POST", "/api/v1/agents", "application/json", []byte(agentBody("other")), ohttp.NamespaceHeader, tt.ns)
			var fields []string
			if tt.status == 400 {
				fields = []string{ohttp.NamespaceHeader}
			}
			problemNaming(t, resp, b, tt.status, tt.detail, fields)
		})
	}
	t.Run("twice", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.URL()+"/api/v1/agents", nil)
		req.Header.Set("Authorization", "Bearer "+keyShare)
		req.Header.Add(ohttp.NamespaceHeader, "team-a")
		req.Header.Add(ohttp.NamespaceHeader, "shared")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("two namespaces: %d", resp.StatusCode)
		}
	})
	if got := tenantState(t, g, "team-b") + tenantState(t, g, "team-a") + tenantState(t, g, "shared"); got != before {
		t.Fatalf("refused requests changed what is stored:\n%s\nwas\n%s", got, before)
	}
}

// TestTenancyWithoutAuthentication checks the allow-all principal of a
// gateway without an Authenticator: the default namespace unless the
// request names another, which it may.
func TestTenancyWithoutAuthentication(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	g.register(t, agentBody("scout"))
	var a platform.Agent
	resp, b := g.do(t, "POST", "/api/v1/agents", "application/json", []byte(agentBody("scout")), ohttp.NamespaceHeader, "team-a")
	if mustUnmarshal(t, b, &a); resp.StatusCode != 201 || a.Namespace != "team-a" {
		t.Fatalf("create in team-a: %d %s", resp.StatusCode, b)
	}
	for ns, want := range map[string]string{"": platform.DefaultNamespace, "team-a": "team-a"} {
		var headers []string
		if ns != "" {
			headers = []string{ohttp.NamespaceHeader, ns}
		}
		resp, b := g.do(t, "GET", "/api/v1/agents", "", nil, headers...)
		var page ohttp.AgentList
		mustUnmarshal(t, b, &page)
		if resp.StatusCode != 200 || len(page.Items) != 1 || page.Items[0].Namespace != want {
			t.Fatalf("list in %q: %d %s", ns, resp.StatusCode, b)
		}
	}
	resp, b = g.do(t, "GET", "/api/v1/agents", "", nil, ohttp.NamespaceHeader, "Bad")
	problemNaming(t, resp, b, 400, ohttp.NamespaceHeader, []string{ohttp.NamespaceHeader})
	// The probes act as nobody: no header of the request fails them.
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, b := g.do(t, "GET", path, "", nil, ohttp.NamespaceHeader, "Bad"); resp.StatusCode != 200 {
			t.Errorf("%s with a bad namespace: %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestAuthenticatorFailures checks the answers to a request the
// Authenticator refuses or answers badly: 401 problems, and a 500 for a
// principal that cannot be used; none reaches a handler.
func TestAuthenticatorFailures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		auth   ohttp.AuthenticatorFunc
		status int
	}{
		{"refused", func(*http.Request) (*platform.Principal, error) {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "bad key")
		}, 401},
		{"nobody", func(*http.Request) (*platform.Principal, error) { return nil, nil }, 401},
		{"down", func(*http.Request) (*platform.Principal, error) {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "the key store is down")
		}, 503},
		{"unusable", func(*http.Request) (*platform.Principal, error) {
			return &platform.Principal{Kind: platform.PrincipalOIDC, Subject: "u", Namespace: "Team A"}, nil
		}, 500},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t, func(s *ohttp.Server) { s.Authenticator = tt.auth })
			resp, b := g.do(t, "POST", "/api/v1/agents", "application/json", []byte(agentBody("scout")))
			problemOf(t, resp, b, tt.status)
			if got := tenantState(t, g, platform.DefaultNamespace); got != "[null,null,null,null,null]" {
				t.Fatalf("a refused request stored something: %s", got)
			}
			if resp, _ := g.do(t, "GET", "/healthz", "", nil); resp.StatusCode != 200 {
				t.Fatalf("/healthz: %d", resp.StatusCode)
			}
		})
	}
}

// TestTenancyEventStreams checks that the live streams carry the events of
// the namespaces the principal sees, and no other's: team-b, reading the
// stream from its start, meets its own marker event and none of team-a's
// before it; team-a gets its run's events on the run's stream.
func TestTenancyEventStreams(t *testing.T) {
	t.Parallel()
	g, _ := newTenantGateway(t)
	url := agentServer(t, func(agentCall) (int, string) { return 200, `{"output":{}}` })
	if resp, b := g.as(t, keyA, "POST", "/api/v1/agents", "application/json",
		fmt.Appendf(nil, `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":%q}`, url)); resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	waitLast(t, g, 1)
	stored, err := g.db.ListEvents(context.Background(), platform.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].Namespace != "team-a" {
		t.Fatalf("stored events %+v, want the one registration in team-a", stored)
	}
	resp, b := g.as(t, keyA, "POST", "/api/v1/orchestrate?wait=30s", "application/json",
		[]byte(`{"workflow":{"apiVersion":"ossa/v0.4.6","kind":"Workflow","metadata":{"name":"one"},"spec":{"steps":[{"id":"s","kind":"Agent","ref":"echo"}]}}}`))
	var run platform.Run
	if mustUnmarshal(t, b, &run); resp.StatusCode != 200 || run.Status != platform.RunSucceeded {
		t.Fatalf("run: %d %s", resp.StatusCode, b)
	}
	var teamA []int64
	all, err := g.db.ListEvents(context.Background(), platform.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.Namespace != "team-a" {
			t.Fatalf("event %d of team-a's work is of namespace %q", e.ID, e.Namespace)
		}
		teamA = append(teamA, e.ID)
	}

	// team-a's run stream, from its start to its terminal event.
	next, _ := g.sseStream(t, "/api/v1/runs/"+run.ID+"/events", "Authorization", "Bearer "+keyA)
	var types []string
	for {
		e, ok := next()
		if !ok {
			break
		}
		types = append(types, e.typ)
	}
	if len(types) == 0 || types[0] != platform.EventRunQueued || types[len(types)-1] != platform.EventRunSucceeded {
		t.Fatalf("team-a's run stream: %v", types)
	}

	// team-b's SSE and WebSocket streams, from the start: its own marker,
	// and nothing of team-a's.
	sse, _ := g.sseStream(t, "/api/v1/events?since=0", "Authorization", "Bearer "+keyB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	header := http.Header{"Authorization": {"Bearer " + keyB}}
	ws := g.dialWSWith(ctx, t, header)
	cancel()
	ws.send(t, `{"type":"subscribe","channel":"*","since":0}`)
	ws.expect(t, "subscribed", "*")
	var marker platform.Agent
	resp, b = g.as(t, keyB, "POST", "/api/v1/agents", "application/json", []byte(agentBody("marker")))
	if mustUnmarshal(t, b, &marker); resp.StatusCode != 201 {
		t.Fatalf("marker: %d %s", resp.StatusCode, b)
	}
	for name, read := range map[string]func() platform.Event{
		"SSE": func() platform.Event {
			e, ok := sse()
			if !ok {
				t.Fatal("the SSE stream ended")
			}
			return e.event
		},
		"WebSocket": func() platform.Event { return *ws.expect(t, "event", "*").Event },
	} {
		e := read()
		if slices.Contains(teamA, e.ID) || e.Namespace != "team-b" {
			t.Fatalf("team-b's %s stream carried event %d of namespace %q", name, e.ID, e.Namespace)
		}
		var data platform.AgentEventData
		mustUnmarshal(t, e.Data, &data)
		if data.ID != marker.ID {
			t.Fatalf("team-b's %s stream: %+v, want its marker", name, e)
		}
	}
}

// dialWSWith opens /ws with the headers.
func (g *gateway) dialWSWith(ctx context.Context, t *testing.T, header http.Header) *wsClient {
	t.Helper()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL(), "http")+"/ws", &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial /ws: %v (%+v)", err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{c: c}
}

// TestRunMetricsEveryNamespace checks that ossa_runs counts the runs of
// every namespace, as the operator who scrapes it wants.
func TestRunMetricsEveryNamespace(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	// No queue works the runs, so they stay queued.
	srv := &ohttp.Server{Addr: "127.0.0.1:0", Agents: db, Workflows: db, Runs: db, Database: db,
		Orchestrator: ossatest.Engine(db, engine.Config{}), Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	g := &gateway{Server: srv, db: db}
	body := []byte(`{"workflow": {"apiVersion": "ossa/v0.4.6", "kind": "Workflow", "metadata": {"name": "hello"},
		"spec": {"steps": [{"id": "greet", "kind": "Agent", "capability": "greet"}]}}}`)
	for _, ns := range []string{"default", "team-a", "team-b"} {
		agent := []byte(`{"name":"greeter","type":"worker","capabilities":["greet"],"endpoint":"http://127.0.0.1:1"}`)
		if resp, b := g.do(t, "POST", "/api/v1/agents", "application/json", agent, ohttp.NamespaceHeader, ns); resp.StatusCode != 201 {
			t.Fatalf("register in %s: %d %s", ns, resp.StatusCode, b)
		}
		if resp, b := g.do(t, "POST", "/api/v1/orchestrate", "application/json", body, ohttp.NamespaceHeader, ns); resp.StatusCode != 202 {
			t.Fatalf("orchestrate in %s: %d %s", ns, resp.StatusCode, b)
		}
	}
	if got, ok := sample(g.scrape(t), `ossa_runs{status="queued"}`); !ok || got != 3 {
		t.Fatalf(`ossa_runs{status="queued"} = %v, want 3, one run of each namespace`, got)
	}
}
