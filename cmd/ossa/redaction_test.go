package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ossa-platform/platform/auth"
	"github.com/ossa-platform/platform/internal/testenv"
)

// TestNoCredentialsInLogs runs a whole gateway on PostgreSQL and Redis
// with authentication on and debug logs, sends it good and bad keys and
// tokens, and greps what it logged, and its /health, /metrics and
// problems, for any credential: the keys, the tokens, the passwords of
// POSTGRES_URL and REDIS_URL.
func TestNoCredentialsInLogs(t *testing.T) {
	_, _, pg := testenv.PostgresSchema(t)
	rd := testenv.RedisURL(t)
	// The passwords as they show in a URL; a database whose user has no
	// password still must not have its URL logged whole.
	var secrets []string
	for _, raw := range []string{pg, rd} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, ":"+p+"@")
		}
		secrets = append(secrets, raw)
	}
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	logs := &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dir}, io.Discard, logs,
			env(map[string]string{"POSTGRES_URL": pg, "REDIS_URL": rd, "LOG_LEVEL": "debug"}))
	}()
	base := listeningURL(t, logs)
	admin, err := auth.ReadKeyFile(dir)
	if err != nil || admin == "" {
		t.Fatalf("admin key: %q %v", admin, err)
	}
	bad := "ossa_" + strings.Repeat("q", 48)
	token := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtc3ViamVjdCJ9.c2lnbmF0dXJlLXRoYXQtaXMtc2VjcmV0"
	secrets = append(secrets, admin, admin[len(admin)-20:], bad, token)
	// An event ticket, spent on a stream, and one refused (spent twice).
	req, _ := http.NewRequest("POST", base+"/api/v1/events/tickets", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Ticket string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.Ticket == "" {
		t.Fatalf("ticket: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	ticket := created.Ticket
	secrets = append(secrets, ticket)
	var answers strings.Builder
	for _, c := range []struct{ key, path string }{
		{"", "/api/v1/runs/nope/events?ticket=" + ticket}, {"", "/api/v1/events?ticket=" + ticket},
		{admin, "/health"}, {admin, "/metrics"}, {admin, "/api/v1/agents"}, {admin, "/api/v1/keys"},
		{bad, "/api/v1/agents"}, {token, "/api/v1/agents"}, {"", "/api/v1/runs"}, {admin, "/api/v1/nope"},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers.Write(b)
	}
	stop()
	if code := <-exit; code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs hold a credential (%.12s...):\n%s", s, logs)
		}
		// /api/v1/keys lists keys by prefix, which the admin key starts with.
		if strings.Contains(answers.String(), s) {
			t.Errorf("an answer holds a credential (%.12s...)", s)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"request"`) && !strings.Contains(logs.String(), "request") {
		t.Fatalf("no request was logged: %s", logs)
	}
}
