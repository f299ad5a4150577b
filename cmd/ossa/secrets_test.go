package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/cmd/ossa/serve"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/ossatest"
	"github.com/ossa-platform/platform/secrets"
)

// secretsCmd runs `ossa args...` with OSSA_SERVER set to server and the
// other variables of vars.
func secretsCmd(t *testing.T, server string, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "OSSA_SERVER" {
			return server
		}
		return vars[k]
	}
	code = run(context.Background(), args, &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

func TestSecretsVerbs(t *testing.T) {
	t.Parallel()
	p := ossatest.Start(t)
	const value = "tok-cli-19af-hidden"
	vars := map[string]string{"BILLING_TOKEN": value}

	code, out, errOut := secretsCmd(t, p.URL, vars, "secrets", "set", "billing-token", "--env", "BILLING_TOKEN")
	if code != 0 || !strings.HasPrefix(out, "created secret billing-token in namespace default (key ") {
		t.Fatalf("set --env: exit %d, %q, %q", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(value+"-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = secretsCmd(t, p.URL, nil, "secrets", "set", "billing-token", "--file", file, "--output", "json")
	var s platform.Secret
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Name != "billing-token" {
		t.Fatalf("set --file: exit %d, %q, %q", code, out, errOut)
	}
	stored, err := p.Store.FindSecret(t.Context(), platform.DefaultNamespace, "billing-token")
	if err != nil {
		t.Fatal(err)
	}
	// The file's newline is not part of the value: the agent gets value-2.
	agent := headerAgent(t)
	if _, err := p.Client.CreateAgent(t.Context(), ohttp.AgentInput{Name: "billing", Type: platform.AgentWorker, Endpoint: agent.url,
		Auth: &platform.AgentAuth{Scheme: "Bearer", Secret: "billing-token"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Execute(t.Context(), "billing", platform.ExecuteRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := agent.seen(); len(got) != 1 || got[0] != "Bearer "+value+"-2" {
		t.Fatalf("the agent saw %q (key %s)", got, stored.KeyID)
	}

	code, out, errOut = secretsCmd(t, p.URL, nil, "agents", "register", "--name", "by-flags", "--endpoint", agent.url,
		"--secret", "billing-token", "--secret-scheme", "Bearer")
	if code != 0 || !strings.Contains(out, "Authorization: Bearer <secret billing-token>") {
		t.Fatalf("register --secret: exit %d, %q, %q", code, out, errOut)
	}
	code, _, errOut = secretsCmd(t, p.URL, nil, "agents", "register", "--name", "nope", "--endpoint", agent.url, "--secret", "missing")
	if code != 1 || !strings.Contains(errOut, "/auth/secret") {
		t.Fatalf("register --secret missing: exit %d, %q", code, errOut)
	}
	code, out, _ = secretsCmd(t, p.URL, nil, "secrets", "list")
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "billing-token  "+stored.KeyID) {
		t.Fatalf("list: exit %d, %q", code, out)
	}
	code, out, _ = secretsCmd(t, p.URL, nil, "secrets", "list", "--output", "json", "--all")
	if code != 0 || !strings.Contains(out, `"name": "billing-token"`) || strings.Contains(out, value) {
		t.Fatalf("list --output json: exit %d, %q", code, out)
	}
	for _, bad := range [][]string{
		{"secrets", "set"},
		{"secrets", "set", "x", "--file", file, "--env", "BILLING_TOKEN"},
		{"secrets", "set", "x", "extra"},
		{"secrets", "bogus"},
	} {
		if code, _, _ := secretsCmd(t, p.URL, vars, bad...); code != 2 {
			t.Errorf("ossa %s: exit %d, want 2", strings.Join(bad, " "), code)
		}
	}
	code, _, errOut = secretsCmd(t, p.URL, nil, "secrets", "set", "x", "--env", "UNSET")
	if code != 1 || !strings.Contains(errOut, "UNSET is not set") {
		t.Errorf("set --env UNSET: exit %d, %q", code, errOut)
	}
	code, _, errOut = secretsCmd(t, p.URL, vars, "secrets", "set", "Bad_Name", "--env", "BILLING_TOKEN")
	if code != 1 || !strings.Contains(errOut, "422") || strings.Contains(errOut, value) {
		t.Errorf("set Bad_Name: exit %d, %q", code, errOut)
	}
	if code, out, errOut = secretsCmd(t, p.URL, nil, "secrets", "delete", "billing-token"); code != 0 || out != "deleted secret billing-token\n" {
		t.Fatalf("delete: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut = secretsCmd(t, p.URL, nil, "secrets", "delete", "billing-token"); code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("delete again: exit %d, %q", code, errOut)
	}
	if code, out, _ = secretsCmd(t, p.URL, nil, "secrets", "--help"); code != 0 || !strings.Contains(out, "rotate") {
		t.Fatalf("help: exit %d, %q", code, out)
	}
}

// headerRecorder is an http agent that records the Authorization header of
// each call.
type headerRecorder struct {
	url   string
	mu    sync.Mutex
	auths []string
}

func headerAgent(t *testing.T) *headerRecorder {
	t.Helper()
	a := &headerRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.auths = append(a.auths, r.Header.Get("Authorization"))
		a.mu.Unlock()
		fmt.Fprint(w, `{"output":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *headerRecorder) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

// TestSecretsRotate follows the rotation procedure of
// docs/security-secrets.md on one database: secrets set under the old key,
// a gateway with the new key and the old one as previous still calls
// with them, `ossa secrets rotate` re-encrypts them, and a gateway with the
// new key alone then calls with them; the old key alone no longer can. A
// secret under a key nobody has is reported, and rotate exits 1.
func TestSecretsRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldKey, newKey, lostKey := secrets.NewKey(), secrets.NewKey(), secrets.NewKey()
	agent := headerAgent(t)
	start := func(current string, previous ...string) *ossatest.Platform {
		t.Helper()
		vars := map[string]string{"OSSA_SECRET_KEY": current, "OSSA_SECRET_KEY_PREVIOUS": strings.Join(previous, ",")}
		cfg, err := serve.LoadConfig(nil, env(vars), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ossatest.Open(t.Context(), ossatest.WithConfig(func(c *serve.Config) {
			c.DataDir, c.SecretKey, c.SecretKeysPrevious = dir, cfg.SecretKey, cfg.SecretKeysPrevious
		}))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	call := func(p *ossatest.Platform) error {
		_, err := p.Client.Execute(t.Context(), "billing", platform.ExecuteRequest{})
		return err
	}

	p := start(oldKey)
	for _, name := range []string{"billing-token", "other"} {
		if _, _, err := p.Client.SetSecret(t.Context(), name, "value-of-"+name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Client.CreateAgent(t.Context(), ohttp.AgentInput{Name: "billing", Type: platform.AgentWorker, Endpoint: agent.url,
		Auth: &platform.AgentAuth{Secret: "billing-token"}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Step 1: the new key, the old one still decrypting.
	p = start(newKey, oldKey)
	if err := call(p); err != nil {
		t.Fatalf("with the old key as previous: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// A secret under a key no one has.
	p = start(lostKey)
	if _, _, err := p.Client.SetSecret(t.Context(), "orphan", "lost"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Step 2: rotate.
	rotate := map[string]string{"OSSA_SECRET_KEY": newKey, "OSSA_SECRET_KEY_PREVIOUS": oldKey}
	code, out, errOut := secretsCmd(t, "", rotate, "secrets", "rotate", "--data-dir", dir)
	newID := mustKeyID(t, newKey)
	if code != 1 || out != fmt.Sprintf("re-encrypted 2 secret(s) under key %s\n", newID) ||
		!strings.Contains(errOut, "default/orphan: it is encrypted under key "+mustKeyID(t, lostKey)) {
		t.Fatalf("rotate: exit %d, %q, %q", code, out, errOut)
	}
	if strings.Contains(errOut, newKey) || strings.Contains(errOut, oldKey) || strings.Contains(errOut, "value-of-") {
		t.Fatalf("rotate printed a key or a value: %q", errOut)
	}
	// Again, with the orphan gone: nothing to do, exit 0.
	p = start(newKey)
	if err := p.Client.DeleteSecret(t.Context(), "orphan"); err != nil {
		t.Fatal(err)
	}
	// Step 3: the new key alone.
	if err := call(p); err != nil {
		t.Fatalf("with the new key alone after rotating: %v", err)
	}
	list, err := p.Client.ListSecrets(t.Context(), 0, "")
	if err != nil || len(list.Items) != 2 || list.Items[0].KeyID != newID || list.Items[1].KeyID != newID {
		t.Fatalf("secrets after rotating: %+v, %v", list, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = secretsCmd(t, "", rotate, "secrets", "rotate", "--data-dir", dir); code != 0 || !strings.HasPrefix(out, "re-encrypted 0 secret(s)") {
		t.Fatalf("rotate again: exit %d, %q, %q", code, out, errOut)
	}
	p = start(oldKey)
	defer p.Close()
	if err := call(p); err == nil || !strings.Contains(err.Error(), "encrypted under key "+newID+", which this gateway does not have") {
		t.Fatalf("with the old key alone after rotating: %v", err)
	}
	if n := len(agent.seen()); n != 2 {
		t.Errorf("the agent was called %d times, want 2", n)
	}

	// Bad keys are refused by name, never quoted.
	code, _, errOut = secretsCmd(t, "", map[string]string{"OSSA_SECRET_KEY": "c2hvcnQtYnV0LXNlY3JldA=="}, "secrets", "rotate", "--data-dir", dir)
	if code != 2 || !strings.Contains(errOut, "invalid OSSA_SECRET_KEY (from environment): must be 32 bytes") || strings.Contains(errOut, "c2hvcnQ") {
		t.Fatalf("a short key: exit %d, %q", code, errOut)
	}
	code, _, errOut = secretsCmd(t, "", map[string]string{"OSSA_SECRET_KEY_PREVIOUS": oldKey}, "secrets", "rotate", "--data-dir", dir)
	if code != 2 || !strings.Contains(errOut, "OSSA_SECRET_KEY_PREVIOUS is set but OSSA_SECRET_KEY is not") {
		t.Fatalf("previous without current: exit %d, %q", code, errOut)
	}
}

func mustKeyID(t *testing.T, key string) string {
	t.Helper()
	k, err := secrets.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return secrets.KeyID(k)
}
