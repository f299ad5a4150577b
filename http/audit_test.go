package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
)

// Keys of auditAuth, the audit tests' Authenticator.
const (
	keyRoot   = "key-root"    // admin, sees every namespace
	keyAdminA = "key-admin-a" // admin of team-a alone
	keyWriter = "key-writer"  // acts in team-a, not an admin
)

func auditAuth() ohttp.Authenticator {
	principals := map[string]platform.Principal{
		keyRoot: {Kind: platform.PrincipalAPIKey, Subject: keyRoot, Namespace: platform.DefaultNamespace,
			Namespaces: []string{platform.AllNamespaces}, Scopes: []platform.Scope{platform.ScopeAdmin}},
		keyAdminA: {Kind: platform.PrincipalAPIKey, Subject: keyAdminA, Namespace: "team-a", Namespaces: []string{"team-a"},
			Scopes: []platform.Scope{platform.ScopeAdmin}},
		keyWriter: {Kind: platform.PrincipalOIDC, Subject: "writer@example.com", Namespace: "team-a", Namespaces: []string{"team-a"},
			Scopes: []platform.Scope{platform.ScopeAgentsRead, platform.ScopeAgentsWrite}},
	}
	return ohttp.AuthenticatorFunc(func(r *http.Request) (*platform.Principal, error) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, ok := principals[key]
		if !ok {
			return nil, platform.Errorf(platform.EUNAUTHORIZED, "no valid API key")
		}
		return &p, nil
	})
}

// auditPlatform is a platform on backend ("sqlite" or "postgres") whose
// gateway authenticates with auditAuth.
type auditPlatform struct{ *ossatest.Platform }

func startAudit(t *testing.T, backend string, opts ...ossatest.Option) auditPlatform {
	t.Helper()
	opts = append(opts, ossatest.WithGateway(func(s *ohttp.Server) { s.Authenticator = auditAuth() }))
	if backend == "postgres" {
		opts = append(opts, ossatest.WithPostgres())
	}
	return auditPlatform{ossatest.Start(t, opts...)}
}

// as sends a request with key's credentials (none for "") and the
// request ID id (a fresh one for "").
func (p auditPlatform) as(t *testing.T, key, id, method, path, contentType string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	if key != "" {
		headers = append(headers, "Authorization", "Bearer "+key)
	}
	if id != "" {
		headers = append(headers, "X-Request-ID", id)
	}
	return send(t, method, p.URL+path, contentType, body, headers...)
}

// audit lists every page of GET /api/v1/audit?query as key, pages of
// limit, checking that the pages neither repeat nor lose a record.
func (p auditPlatform) audit(t *testing.T, key, query string, limit int) []platform.AuditRecord {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q.Set("limit", fmt.Sprint(limit))
	var all []platform.AuditRecord
	seen := map[string]bool{}
	for range 1000 {
		resp, b := p.as(t, key, "", "GET", "/api/v1/audit?"+q.Encode(), "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/audit?%s: %d %s", q.Encode(), resp.StatusCode, b)
		}
		var page ohttp.AuditList
		mustUnmarshal(t, b, &page)
		if len(page.Items) > limit {
			t.Fatalf("a page of %d records, limit %d", len(page.Items), limit)
		}
		for _, a := range page.Items {
			if seen[a.ID] {
				t.Fatalf("record %s on two pages", a.ID)
			}
			seen[a.ID] = true
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		q.Set("cursor", *page.NextCursor)
	}
	t.Fatal("the audit log never reached its last page")
	return nil
}

// TestAuditEveryChange makes every kind of change through the API, on both
// stores, and finds each in the audit log once, newest first, with who made
// it, from where and in which request; changes that change nothing, and the
// engine's own (a run's steps and outcome), are not there.
func TestAuditEveryChange(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			p := startAudit(t, backend)
			echoURL := agentServer(t, func(agentCall) (int, string) { return 200, `{"output":{"ok":true}}` })
			release := make(chan struct{})
			heldURL := agentServer(t, func(agentCall) (int, string) { <-release; return 200, `{"output":{}}` })
			t.Cleanup(func() { close(release) })

			type want struct{ id, action, kind, name, detail string }
			var wants []want
			step := 0
			// call makes one request as team-a's admin and expects status.
			call := func(status int, method, path, contentType string, body []byte) []byte {
				t.Helper()
				step++
				resp, b := p.as(t, keyAdminA, fmt.Sprintf("step-%d", step), method, path, contentType, body)
				if resp.StatusCode != status {
					t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, status)
				}
				return b
			}
			did := func(action, kind, name, detail string) {
				wants = append(wants, want{fmt.Sprintf("step-%d", step), action, kind, name, detail})
			}

			call(201, "POST", "/api/v1/agents", "application/json",
				fmt.Appendf(nil, `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":%q}`, echoURL))
			did(platform.AuditAgentCreate, "agent", "echo", "")
			var reviewer platform.Agent
			mustUnmarshal(t, call(201, "POST", "/api/v1/agents?endpoint="+echoURL, "application/yaml", readTestdata(t, "agent.yaml")), &reviewer)
			did(platform.AuditAgentCreate, "agent", reviewer.Name, "from a yaml manifest")
			call(200, "PUT", "/api/v1/agents/echo", "application/json",
				fmt.Appendf(nil, `{"name":"echo","type":"worker","capabilities":["echo"],"endpoint":%q,"description":"put"}`, echoURL))
			did(platform.AuditAgentUpdate, "agent", "echo", "")
			call(200, "PATCH", "/api/v1/agents/echo", "application/merge-patch+json", []byte(`{"labels":{"patched":"yes"}}`))
			did(platform.AuditAgentUpdate, "agent", "echo", "")
			call(201, "POST", "/api/v1/workflows", "application/yaml", relay("1.0.0"))
			did(platform.AuditWorkflowCreate, "workflow", "relay", "revision 1")
			call(200, "PUT", "/api/v1/workflows/relay", "application/yaml", relay("2.0.0"))
			did(platform.AuditWorkflowUpdate, "workflow", "relay", "revision 2")
			call(200, "PUT", "/api/v1/workflows/relay", "application/yaml", relay("2.0.0")) // unchanged
			var run platform.Run
			mustUnmarshal(t, call(200, "POST", "/api/v1/orchestrate?wait=30s", "application/json", []byte(`{"workflow":"relay"}`)), &run)
			did(platform.AuditRunCreate, "run", "relay", "")
			call(200, "POST", "/api/v1/runs/"+run.ID+"/cancel", "application/json", nil) // over already: no change
			call(201, "POST", "/api/v1/agents", "application/json",
				fmt.Appendf(nil, `{"name":"held","type":"worker","capabilities":["hold"],"endpoint":%q}`, heldURL))
			did(platform.AuditAgentCreate, "agent", "held", "")
			var accepted ohttp.OrchestrateAccepted
			mustUnmarshal(t, call(202, "POST", "/api/v1/orchestrate", "application/json", []byte(`{"workflow":{"apiVersion":"ossa/v0.4.6",
				"kind":"Workflow","metadata":{"name":"hold"},"spec":{"steps":[{"id":"h","kind":"Agent","ref":"held"}]}}}`)), &accepted)
			did(platform.AuditRunCreate, "run", "hold", "")
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				r, err := p.Store.FindRun(context.Background(), "team-a", accepted.RunID)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status == platform.RunRunning && len(r.Steps) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the held run never got to its step: %+v", r)
				}
			}
			call(202, "POST", "/api/v1/runs/"+accepted.RunID+"/cancel", "application/json", nil)
			did(platform.AuditRunCancel, "run", "hold", platform.AuditCancelRequested)
			call(204, "DELETE", "/api/v1/agents/"+reviewer.ID, "", nil)
			did(platform.AuditAgentDelete, "agent", reviewer.Name, "")
			call(204, "DELETE", "/api/v1/workflows/relay", "", nil)
			did(platform.AuditWorkflowDelete, "workflow", "relay", "")
			// Requests that fail change nothing and are not changes in the log.
			call(409, "POST", "/api/v1/agents", "application/json",
				fmt.Appendf(nil, `{"name":"echo","type":"worker","endpoint":%q}`, echoURL))
			call(404, "DELETE", "/api/v1/workflows/relay", "", nil)
			call(422, "POST", "/api/v1/agents", "application/json", []byte(`{"name":"Bad Name","type":"worker","endpoint":"x"}`))

			got := p.audit(t, keyAdminA, "", 3)
			if len(got) != len(wants) {
				t.Fatalf("the log holds %d records, want %d: %+v", len(got), len(wants), got)
			}
			for i, rec := range got {
				w := wants[len(wants)-1-i]
				if rec.RequestID != w.id || rec.Action != w.action || rec.Target.Kind != w.kind || rec.Target.Name != w.name ||
					rec.Detail != w.detail || rec.Target.ID == "" {
					t.Errorf("record %d: %+v, want %+v", i, rec, w)
				}
				if rec.Principal != (platform.AuditPrincipal{Kind: platform.PrincipalAPIKey, Subject: keyAdminA}) ||
					rec.Namespace != "team-a" || rec.Source != "127.0.0.1" || rec.Outcome != platform.AuditOK || rec.Count != 1 {
					t.Errorf("record %d: %+v", i, rec)
				}
			}
			if got[len(got)-1].Target.Name != "echo" || got[2].Target.ID != accepted.RunID {
				t.Errorf("the records name the wrong targets: %+v", got)
			}
		})
	}
}

// TestAuditDenied checks that every 401 and 403 is recorded, outside the
// request, with the caller when known and the namespace it asked for, and
// that alike denials are folded into a count.
func TestAuditDenied(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	p := startAudit(t, "sqlite", ossatest.WithStore(db))
	for i := range 3 {
		resp, b := p.as(t, "", fmt.Sprintf("anon-%d", i), "GET", "/api/v1/agents", "", nil)
		problemOf(t, resp, b, http.StatusUnauthorized)
	}
	resp, b := p.as(t, keyAdminA, "elsewhere", "GET", "/api/v1/agents/echo", "", nil, ohttp.NamespaceHeader, "team-b")
	problemOf(t, resp, b, http.StatusForbidden)
	resp, b = p.as(t, keyWriter, "not-admin", "GET", "/api/v1/audit", "", nil)
	problemOf(t, resp, b, http.StatusForbidden)

	// The first of each group is written at once, without waiting for
	// the end of the minute.
	var denied []platform.AuditRecord
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if denied = p.audit(t, keyRoot, "outcome=denied", 100); len(denied) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	byRequest := map[string]platform.AuditRecord{}
	for _, a := range denied {
		byRequest[a.RequestID] = a
	}
	anon, elsewhere, notAdmin := byRequest["anon-0"], byRequest["elsewhere"], byRequest["not-admin"]
	if len(denied) != 3 || anon.ID == "" || elsewhere.ID == "" || notAdmin.ID == "" {
		t.Fatalf("denied requests recorded: %+v", denied)
	}
	if anon.Action != "GET /api/v1/agents" || anon.Target != (platform.AuditTarget{Kind: "route", Name: "/api/v1/agents"}) ||
		anon.Principal != (platform.AuditPrincipal{}) || anon.Namespace != "" || anon.Source != "127.0.0.1" ||
		anon.Detail != "401 Unauthorized" || anon.Outcome != platform.AuditDenied || anon.Count < 1 {
		t.Errorf("the 401 is recorded as %+v", anon)
	}
	if elsewhere.Action != "GET /api/v1/agents/{ref}" || elsewhere.Target.Name != "/api/v1/agents/echo" ||
		elsewhere.Principal != (platform.AuditPrincipal{Kind: platform.PrincipalAPIKey, Subject: keyAdminA}) ||
		elsewhere.Namespace != "team-b" || elsewhere.Detail != "403 Forbidden" || elsewhere.Count != 1 {
		t.Errorf("the 403 of another namespace is recorded as %+v", elsewhere)
	}
	if notAdmin.Action != "GET /api/v1/audit" || notAdmin.Namespace != "team-a" || notAdmin.Count != 1 ||
		notAdmin.Principal != (platform.AuditPrincipal{Kind: platform.PrincipalOIDC, Subject: "writer@example.com"}) {
		t.Errorf("the 403 of a caller who is no admin is recorded as %+v", notAdmin)
	}
	// team-a's admin sees team-a's denials alone: not those of no
	// namespace, nor team-b's.
	if got := p.audit(t, keyAdminA, "outcome=denied", 100); len(got) != 1 || got[0].ID != notAdmin.ID {
		t.Errorf("team-a's admin sees %+v", got)
	}

	// On shutdown the rest of the minute's count is written: the three
	// 401s are counted, in one or two records.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	page, err := db.ListAudit(context.Background(), platform.AuditFilter{Action: "GET /api/v1/agents", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range page.Items {
		n += a.Count
	}
	if n != 3 || len(page.Items) > 2 {
		t.Errorf("the 401s are recorded as %d denials in %d records: %+v", n, len(page.Items), page.Items)
	}
}

// TestAuditList checks GET /api/v1/audit's filters, pages, problems and
// who may read what.
func TestAuditList(t *testing.T) {
	t.Parallel()
	db := ossatest.SQLite(t)
	p := startAudit(t, "sqlite", ossatest.WithStore(db))
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var records []platform.AuditRecord
	for i, ns := range []string{"team-a", "team-b", "", "team-a", "team-a", "team-b"} {
		action := []string{"agent.create", "workflow.update", "GET /api/v1/agents"}[i%3]
		records = append(records, platform.AuditRecord{Time: base.Add(time.Duration(i) * time.Minute), Namespace: ns,
			Principal: platform.AuditPrincipal{Kind: platform.PrincipalAPIKey, Subject: fmt.Sprint("key-", i%2)},
			Action:    action, Target: platform.AuditTarget{Kind: "agent", ID: fmt.Sprint("id-", i), Name: "echo"},
			Outcome: platform.AuditOK, Count: 1, Detail: fmt.Sprint(i)})
	}
	if err := db.RecordAudit(ctx, records...); err != nil {
		t.Fatal(err)
	}
	details := func(key, query string) string {
		t.Helper()
		var out []string
		for _, a := range p.audit(t, key, query, 2) {
			out = append(out, a.Detail)
		}
		return strings.Join(out, ",")
	}
	stamp := func(d time.Duration) string { return url.QueryEscape(base.Add(d).Format(time.RFC3339)) }
	for _, c := range []struct{ key, query, want string }{
		{keyRoot, "", "5,4,3,2,1,0"},
		{keyAdminA, "", "4,3,0"},
		{keyRoot, "namespace=team-b", "5,1"},
		{keyRoot, "namespace=team-a,team-b", "5,4,3,1,0"},
		{keyRoot, "namespace=team-a&namespace=team-b", "5,4,3,1,0"},
		{keyRoot, "action=agent.*", "3,0"},
		{keyRoot, "action=workflow.update", "4,1"},
		{keyRoot, "principal=key-1&principal_kind=api_key", "5,3,1"},
		{keyRoot, "principal_kind=oidc", ""},
		{keyRoot, "target=id-2", "2"},
		{keyRoot, "target=echo&target_kind=agent&namespace=team-b", "5,1"},
		{keyRoot, "outcome=denied", ""},
		{keyRoot, "since=" + stamp(2*time.Minute) + "&until=" + stamp(4*time.Minute), "3,2"},
		{keyAdminA, "since=" + stamp(time.Minute), "4,3"},
		{keyRoot, "namespace=team-a", "4,3,0"},
		{keyRoot, "outcome=ok", "5,4,3,2,1,0"},
	} {
		if got := details(c.key, c.query); got != c.want {
			t.Errorf("%s ?%s: %q, want %q", c.key, c.query, got, c.want)
		}
	}
	// The namespace header narrows an admin of all to that one.
	resp, b := p.as(t, keyRoot, "", "GET", "/api/v1/audit", "", nil, ohttp.NamespaceHeader, "team-b")
	var page ohttp.AuditList
	if mustUnmarshal(t, b, &page); resp.StatusCode != 200 || len(page.Items) != 2 || page.Items[0].Namespace != "team-b" {
		t.Errorf("as the all-seeing admin in team-b: %d %s", resp.StatusCode, b)
	}

	// Bad parameters are 400s naming each; nothing is listed.
	for query, fields := range map[string][]string{
		"since=yesterday&outcome=maybe":                         {"since", "outcome"},
		"until=2025-01-01T00:00:00Z&since=2025-01-02T00:00:00Z": {"until"},
		"limit=0":                               {"limit"},
		"limit=101&cursor=garbage!":             {"limit", "cursor"},
		"namespace=Team_A":                      {"namespace"},
		"color=red":                             {"color"},
		"principal=" + strings.Repeat("x", 257): {"principal"},
	} {
		resp, b := p.as(t, keyRoot, "", "GET", "/api/v1/audit?"+query, "", nil)
		pr := problemOf(t, resp, b, http.StatusBadRequest)
		var named []string
		for _, e := range pr.Errors {
			named = append(named, e.Field)
		}
		slices.Sort(named)
		slices.Sort(fields)
		if !slices.Equal(named, fields) {
			t.Errorf("?%s names %v, want %v: %s", query, named, fields, b)
		}
	}
	// Who may not read: a caller without the admin scope, and an admin
	// asking for a namespace it does not see (which says nothing of what
	// the namespace holds).
	for _, c := range []struct{ key, query string }{{keyWriter, ""}, {keyAdminA, "namespace=team-b"},
		{keyAdminA, "namespace=team-a,nowhere"}} {
		resp, b := p.as(t, c.key, "", "GET", "/api/v1/audit?"+c.query, "", nil)
		problemOf(t, resp, b, http.StatusForbidden)
		if strings.Contains(string(b), `"items"`) {
			t.Errorf("a refusal lists records: %s", b)
		}
	}
	resp, b = p.as(t, "", "", "GET", "/api/v1/audit", "", nil)
	problemOf(t, resp, b, http.StatusUnauthorized)

	// The Go client reads the same log.
	c := ohttp.NewClient(p.URL)
	c.HTTPClient = &http.Client{Transport: bearer{key: keyAdminA, next: http.DefaultTransport}}
	list, err := c.ListAudit(ctx, ohttp.AuditQuery{Action: "agent.*", Since: base, Until: base.Add(time.Hour), Limit: 1})
	if err != nil || len(list.Items) != 1 || list.Items[0].Detail != "3" || list.NextCursor == nil {
		t.Fatalf("ListAudit = %+v, %v", list, err)
	}
	next, err := c.ListAudit(ctx, ohttp.AuditQuery{Action: "agent.*", Limit: 1, Cursor: *list.NextCursor})
	if err != nil || len(next.Items) != 1 || next.Items[0].Detail != "0" {
		t.Fatalf("ListAudit's next page = %+v, %v", next, err)
	}
	_, err = ohttp.NewClient(p.URL).ListAudit(ctx, ohttp.AuditQuery{})
	if pr, ok := err.(*ohttp.Problem); !ok || pr.Status != http.StatusUnauthorized {
		t.Fatalf("ListAudit without a key = %v", err)
	}
	b, _ = json.Marshal(list.Items[0])
	if strings.Contains(string(b), `"principal":{"kind":""`) {
		t.Errorf("a record encodes an empty principal: %s", b)
	}
}

// bearer sends its key with every request.
type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.next.RoundTrip(r)
}
