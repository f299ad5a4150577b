package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/invoke"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/secrets"
)

// secretValue is the value the tests set; no answer and no log line may
// hold it, nor its distinctive middle.
const secretValue = "sk-live-5b2e-d0-not-print-me"

// loggedGateway is a platform whose every log line, at debug level, goes
// to logs, with the embedded store's key in its data directory.
func loggedGateway(t *testing.T, logs io.Writer, opts ...ossatest.Option) *gateway {
	t.Helper()
	db := ossatest.SQLite(t)
	opts = append([]ossatest.Option{ossatest.WithStore(db), ossatest.WithLogs(logs),
		ossatest.WithConfig(func(c *serve.Config) { c.LogLevel = "debug" })}, opts...)
	return &gateway{Server: ossatest.Start(t, opts...).Gateway, db: db}
}

// recordingAgent is an http agent that records the Authorization header of
// every call and answers with the input.
type recordingAgent struct {
	url   string
	mu    sync.Mutex
	auths []string
}

func newRecordingAgent(t *testing.T) *recordingAgent {
	t.Helper()
	a := &recordingAgent{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.auths = append(a.auths, r.URL.Path+" "+r.Header.Get("Authorization"))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"output":"done"}`)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *recordingAgent) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

// TestSecrets sets, lists, replaces and deletes secrets, registers an
// agent that authenticates with one, and calls it: the agent gets the
// header, and the value is in no answer of the gateway and in no line of
// its log.
func TestSecrets(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	g := loggedGateway(t, &logs)
	var answers []string
	do := func(method, path, contentType, body string) (*http.Response, []byte) {
		t.Helper()
		resp, b := g.do(t, method, path, contentType, []byte(body))
		answers = append(answers, fmt.Sprintf("%s %s: %d %s %v", method, path, resp.StatusCode, b, resp.Header))
		return resp, b
	}

	resp, b := do("PUT", "/api/v1/secrets/billing-token", "application/json", `{"value":"`+secretValue+`"}`)
	var sec platform.Secret
	mustUnmarshal(t, b, &sec)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/api/v1/secrets/billing-token" ||
		sec.Name != "billing-token" || sec.Namespace != "default" || sec.KeyID == "" || sec.CreatedAt.IsZero() {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	resp, b = do("PUT", "/api/v1/secrets/billing-token", "application/json", `{"value":"`+secretValue+`"}`)
	var again platform.Secret
	mustUnmarshal(t, b, &again)
	if resp.StatusCode != http.StatusOK || !again.CreatedAt.Equal(sec.CreatedAt) || !again.UpdatedAt.After(sec.UpdatedAt) {
		t.Fatalf("replace: %d %s", resp.StatusCode, b)
	}
	for _, name := range []string{"a-first", "z-last"} {
		if resp, b := do("PUT", "/api/v1/secrets/"+name, "application/json", `{"value":"other"}`); resp.StatusCode != 201 {
			t.Fatalf("create %s: %d %s", name, resp.StatusCode, b)
		}
	}
	// Pages, in name order.
	var names []string
	cursor := ""
	for {
		resp, b := do("GET", "/api/v1/secrets?limit=2"+cursor, "", "")
		var page ohttp.SecretList
		mustUnmarshal(t, b, &page)
		if resp.StatusCode != 200 {
			t.Fatalf("list: %d %s", resp.StatusCode, b)
		}
		for _, s := range page.Items {
			names = append(names, s.Name)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + *page.NextCursor
	}
	if fmt.Sprint(names) != "[a-first billing-token z-last]" {
		t.Fatalf("listed %v", names)
	}

	// An agent that names a missing secret is refused, and nothing stored.
	agent := newRecordingAgent(t)
	before := g.snapshot(t)
	resp, b = do("POST", "/api/v1/agents", "application/json",
		fmt.Sprintf(`{"name":"billing","type":"worker","capabilities":["bill"],"endpoint":%q,"auth":{"scheme":"Bearer","secret":"nope"}}`, agent.url))
	_, f := problemNaming(t, resp, b, http.StatusUnprocessableEntity, "secret that does not exist", []string{"/auth/secret"})
	if !strings.Contains(f["/auth/secret"], `names the secret "nope", which namespace "default" does not have`) {
		t.Errorf("problem: %s", b)
	}
	resp, b = do("POST", "/api/v1/agents", "application/json",
		fmt.Sprintf(`{"name":"billing","type":"worker","endpoint":%q,"auth":{"header":"Content-Type","scheme":"Bearer Token","secret":"Bad_Name"}}`, agent.url))
	problemNaming(t, resp, b, http.StatusUnprocessableEntity, "not valid", []string{"/auth/header", "/auth/scheme", "/auth/secret"})
	resp, b = do("POST", "/api/v1/agents", "application/json",
		fmt.Sprintf(`{"name":"billing","type":"worker","endpoint":%q,"auth":"billing-token"}`, agent.url))
	_, f = problemNaming(t, resp, b, http.StatusUnprocessableEntity, "not valid", []string{"/auth"})
	if f["/auth"] != "must be an object, not string" {
		t.Errorf("auth of the wrong type: %s", b)
	}
	if got := g.snapshot(t); got != before {
		t.Fatalf("refused registrations changed the registry:\n%s\nwas\n%s", got, before)
	}

	resp, b = do("POST", "/api/v1/agents", "application/json",
		fmt.Sprintf(`{"name":"billing","type":"worker","capabilities":["bill"],"endpoint":%q,"auth":{"scheme":"Bearer","secret":"billing-token"}}`, agent.url))
	var a platform.Agent
	mustUnmarshal(t, b, &a)
	if resp.StatusCode != 201 || a.Auth == nil || *a.Auth != (platform.AgentAuth{Header: "Authorization", Scheme: "Bearer", Secret: "billing-token"}) {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	for range 2 {
		if resp, b := do("POST", "/api/v1/agents/billing/execute", "application/json", `{"capability":"bill","input":{}}`); resp.StatusCode != 200 {
			t.Fatalf("execute: %d %s", resp.StatusCode, b)
		}
	}
	// A new value reaches the next call; the vault forgets the old one.
	if resp, b := do("PUT", "/api/v1/secrets/billing-token", "application/json", `{"value":"`+secretValue+`-2"}`); resp.StatusCode != 200 {
		t.Fatalf("replace: %d %s", resp.StatusCode, b)
	}
	if resp, b := do("POST", "/api/v1/agents/billing/execute", "application/json", `{"capability":"bill"}`); resp.StatusCode != 200 {
		t.Fatalf("execute: %d %s", resp.StatusCode, b)
	}
	want := []string{"/ Bearer " + secretValue, "/ Bearer " + secretValue, "/ Bearer " + secretValue + "-2"}
	if got := agent.seen(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the agent saw %q, want %q", got, want)
	}
	// PATCH moves the agent to another header, merging its auth.
	resp, b = do("PATCH", "/api/v1/agents/billing", "application/merge-patch+json", `{"auth":{"header":"X-Api-Key","scheme":null}}`)
	var patchedAgent platform.Agent
	mustUnmarshal(t, b, &patchedAgent)
	if resp.StatusCode != 200 || patchedAgent.Auth == nil || *patchedAgent.Auth != (platform.AgentAuth{Header: "X-Api-Key", Secret: "billing-token"}) {
		t.Fatalf("patch auth: %d %s", resp.StatusCode, b)
	}
	resp, b = do("PATCH", "/api/v1/agents/billing", "application/merge-patch+json", `{"auth":{"secret":"missing"}}`)
	problemNaming(t, resp, b, http.StatusUnprocessableEntity, "does not exist", []string{"/auth/secret"})

	// Deleted, the secret fails the agent's calls, naming it.
	if resp, b := do("DELETE", "/api/v1/secrets/billing-token", "", ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	resp, b = do("DELETE", "/api/v1/secrets/billing-token", "", "")
	problemOf(t, resp, b, http.StatusNotFound)
	resp, b = do("POST", "/api/v1/agents/billing/execute", "application/json", `{"capability":"bill"}`)
	p := problemOf(t, resp, b, http.StatusBadGateway)
	if !strings.Contains(p.Detail, `authenticates with the secret "billing-token", which namespace "default" does not have`) {
		t.Errorf("execute without the secret: %s", b)
	}
	if n := len(agent.seen()); n != 3 {
		t.Errorf("the agent was called %d times, want 3", n)
	}

	// Bad secrets: what and where, never the value, nothing stored.
	beforeList := func() string { _, b := g.do(t, "GET", "/api/v1/secrets", "", nil); return string(b) }
	listed := beforeList()
	for _, tc := range []struct {
		path, contentType, body string
		status                  int
		field                   string
	}{
		{"/api/v1/secrets/Bad_Name", "application/json", `{"value":"` + secretValue + `"}`, 422, "name"},
		{"/api/v1/secrets/fine", "application/json", `{"value":""}`, 422, "/value"},
		{"/api/v1/secrets/fine", "application/json", `{}`, 422, "/value"},
		{"/api/v1/secrets/fine", "application/json", `{"value":"` + secretValue + `\r\nX-Injected: 1"}`, 422, "/value"},
		{"/api/v1/secrets/fine", "application/json", `{"value":" ` + secretValue + `"}`, 422, "/value"},
		{"/api/v1/secrets/fine", "application/json", `{"value":"` + strings.Repeat("x", platform.MaxSecretValueLen+1) + `"}`, 422, "/value"},
		{"/api/v1/secrets/fine", "application/json", `{"value":7}`, 422, "/value"},
		{"/api/v1/secrets/fine", "application/json", `{"value":"` + secretValue + `", "note":"x"}`, 400, "/note"},
		{"/api/v1/secrets/fine", "application/json", `{"value":"` + secretValue + `\x01"}`, 400, "body"},
		{"/api/v1/secrets/fine", "application/json", `{"value":"` + secretValue, 400, "body"},
		{"/api/v1/secrets/fine", "text/plain", secretValue, 415, "Content-Type"},
	} {
		resp, b := do("PUT", tc.path, tc.contentType, tc.body)
		problemNaming(t, resp, b, tc.status, "", []string{tc.field})
	}
	if got := beforeList(); got != listed {
		t.Errorf("bad puts changed the secrets:\n%s\nwas\n%s", got, listed)
	}
	resp, b = do("GET", "/api/v1/secrets?limit=0", "", "")
	problemNaming(t, resp, b, 400, "", []string{"limit"})

	for _, a := range answers {
		if strings.Contains(a, secretValue) || strings.Contains(a, "not-print-me") {
			t.Errorf("an answer holds the value: %s", a)
		}
	}
	if strings.Contains(logs.String(), "not-print-me") {
		t.Errorf("the log holds the value:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"route":"/api/v1/secrets/{name}"`) {
		t.Errorf("the log has no line of the secret routes: is it the gateway's?\n%s", logs.String())
	}
}

// With PostgreSQL and no OSSA_SECRET_KEY the gateway keeps no secrets: the
// routes answer 503 saying what to set, and an agent that names a secret
// cannot be registered.
func TestSecretsWithoutKey(t *testing.T) {
	t.Parallel()
	p := ossatest.Start(t, ossatest.WithPostgres())
	g := &gateway{Server: p.Gateway}
	for _, r := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/secrets/token", `{"value":"v"}`}, {"GET", "/api/v1/secrets", ""}, {"DELETE", "/api/v1/secrets/token", ""},
	} {
		resp, b := g.do(t, r.method, r.path, "application/json", []byte(r.body))
		problemNaming(t, resp, b, http.StatusServiceUnavailable, "set OSSA_SECRET_KEY", nil)
	}
	resp, b := g.do(t, "POST", "/api/v1/agents", "application/json",
		[]byte(`{"name":"billing","type":"worker","endpoint":"http://127.0.0.1:1","auth":{"secret":"token"}}`))
	problemNaming(t, resp, b, http.StatusServiceUnavailable, "set OSSA_SECRET_KEY", []string{"/auth/secret"})

	// With a key it keeps them, on PostgreSQL too.
	key := newKey(t)
	q := ossatest.Start(t, ossatest.WithPostgres(), ossatest.WithConfig(func(c *serve.Config) { c.SecretKey = key }))
	if _, created, err := q.Client.SetSecret(t.Context(), "token", "v"); err != nil || !created {
		t.Fatalf("with a key: %v, %v", created, err)
	}
}

// The embedded store's key is generated into the data directory on the
// first start, readable by the owner alone, and used again on the next.
func TestSecretKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() *ossatest.Platform {
		db := ossatest.SQLiteAt(t, dir)
		p, err := ossatest.Open(t.Context(), ossatest.WithStore(db), ossatest.WithConfig(func(c *serve.Config) { c.DataDir = dir }))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := start()
	if _, _, err := p.Client.SetSecret(t.Context(), "token", secretValue); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, serve.SecretKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	p = start()
	defer p.Close()
	sec, err := p.Main.Store.FindSecret(t.Context(), platform.DefaultNamespace, "token")
	if err != nil {
		t.Fatal(err)
	}
	// The second start reads the same key: its vault opens the secret.
	agent := newRecordingAgent(t)
	if _, err := p.Client.CreateAgent(t.Context(), ohttp.AgentInput{Name: "a", Type: platform.AgentWorker, Endpoint: agent.url,
		Auth: &platform.AgentAuth{Secret: "token"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Execute(t.Context(), "a", platform.ExecuteRequest{}); err != nil {
		t.Fatalf("execute after a restart (key %s): %v", sec.KeyID, err)
	}
	if got := agent.seen(); len(got) != 1 || got[0] != "/ "+secretValue {
		t.Errorf("the agent saw %q", got)
	}
}

// newKey is a fresh OSSA_SECRET_KEY.
func newKey(t *testing.T) serve.SecretKey {
	t.Helper()
	k, err := secrets.ParseKey(secrets.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Endpoints the network policy refuses are refused at registration, by
// POST, PUT, PATCH and a manifest's endpoint, with a problem that names
// the endpoint and says why, and nothing stored.
func TestAgentEndpointRefused(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	existing := g.register(t, summarizer)
	before := g.snapshot(t)
	for _, tc := range []struct {
		method, path, contentType, body, field, why string
	}{
		{"POST", "/api/v1/agents", "application/json", `{"name":"imds","type":"worker","endpoint":"http://169.254.169.254/latest/meta-data/"}`,
			"/endpoint", "is refused: 169.254.169.254 is a link-local address, where cloud metadata services answer, which the gateway never calls"},
		{"POST", "/api/v1/agents", "application/json", `{"name":"imds","type":"worker","endpoint":"http://[fd00:ec2::254]/latest"}`,
			"/endpoint", "cloud metadata service"},
		{"POST", "/api/v1/agents", "application/json", `{"name":"imds","type":"worker","endpoint":"http://[::ffff:169.254.169.254]/"}`,
			"/endpoint", "link-local"},
		{"POST", "/api/v1/agents", "application/json", `{"name":"zero","type":"worker","endpoint":"http://0.0.0.0:8080/"}`,
			"/endpoint", "unspecified"},
		{"POST", "/api/v1/agents?endpoint=http://169.254.169.254/", "application/yaml", string(readTestdata(t, "agent.yaml")),
			"endpoint", "link-local"},
		{"PUT", "/api/v1/agents/summarizer", "application/json", `{"name":"summarizer","type":"worker","endpoint":"http://169.254.169.254/"}`,
			"/endpoint", "link-local"},
		{"PATCH", "/api/v1/agents/" + existing.ID, "application/merge-patch+json", `{"endpoint":"http://100.100.100.200/latest/meta-data/"}`,
			"/endpoint", "cloud metadata service"},
	} {
		resp, b := g.do(t, tc.method, tc.path, tc.contentType, []byte(tc.body))
		_, f := problemNaming(t, resp, b, http.StatusUnprocessableEntity, "may not call the agent's endpoint", []string{tc.field})
		if !strings.Contains(f[tc.field], tc.why) {
			t.Errorf("%s %s: %s: %q, want %q", tc.method, tc.path, tc.field, f[tc.field], tc.why)
		}
	}
	if got := g.snapshot(t); got != before {
		t.Fatalf("refused changes changed the registry:\n%s\nwas\n%s", got, before)
	}
	// A change that leaves the endpoint alone is not judged again.
	if resp, b := g.do(t, "PATCH", "/api/v1/agents/summarizer", "application/merge-patch+json", []byte(`{"labels":{"x":"y"}}`)); resp.StatusCode != 200 {
		t.Fatalf("patch labels: %d %s", resp.StatusCode, b)
	}
}

// Under a policy that allows only public addresses, a name that resolved
// to a public address when the agent was registered but resolves to
// loopback when it is called (DNS rebinding) is refused at the dial: the
// agent never sees a connection. And a name that resolves only to refused
// addresses is refused at registration.
func TestAgentRebindingRefusedAtDial(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"output":"reached"}`)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	policy, err := invoke.ParseNetworkPolicy("public")
	if err != nil {
		t.Fatal(err)
	}
	db := ossatest.SQLite(t)
	// At registration, "rebind.test" resolves to a public address, and
	// "internal.test" to a private one only; at the dial, the system's
	// resolver knows neither, so the agent's endpoint is localhost.
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "localhost":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		case "internal.test":
			return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	g := &gateway{Server: ossatest.Start(t, ossatest.WithStore(db),
		ossatest.WithConfig(func(c *serve.Config) { c.AgentNetworks = policy }),
		ossatest.WithGateway(func(s *ohttp.Server) { s.Endpoints = policy.WithResolver(resolve) })).Gateway, db: db}

	resp, b := g.postJSON(t, "/api/v1/agents", `{"name":"internal","type":"worker","endpoint":"http://internal.test/"}`)
	_, f := problemNaming(t, resp, b, http.StatusUnprocessableEntity, "may not call", []string{"/endpoint"})
	if !strings.Contains(f["/endpoint"], "internal.test resolves to 10.1.2.3 is a private address") {
		t.Errorf("internal.test: %s", b)
	}
	g.register(t, `{"name":"rebind","type":"worker","capabilities":["x"],"endpoint":"http://localhost:`+port+`/"}`)
	resp, b = g.postJSON(t, "/api/v1/agents/rebind/execute", `{"capability":"x"}`)
	p := problemOf(t, resp, b, http.StatusBadGateway)
	if !strings.Contains(p.Detail, "agent rebind was not called: the gateway may not connect to") || !strings.Contains(p.Detail, "is a loopback address") {
		t.Errorf("execute: %s", b)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the agent was reached %d times", n)
	}
}
