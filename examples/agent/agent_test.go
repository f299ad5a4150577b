package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// callAgent POSTs one call as the gateway does and returns the answer's
// status, headers and body.
func callAgent(t *testing.T, url, key, capability, input string) (int, http.Header, string) {
	t.Helper()
	body := `{"task_id":"t1","run_id":"","step":"","capability":"` + capability + `","input":` + input + `,"context":{}}`
	req, err := http.NewRequest("POST", url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func startAgent(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(newAgent().routes())
	t.Cleanup(srv.Close)
	return srv.URL
}

// output decodes an answer's output member into v.
func output(t *testing.T, body string, v any) {
	t.Helper()
	var r struct{ Output json.RawMessage }
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Output) == 0 {
		t.Fatalf("answer %s: no output (%v)", body, err)
	}
	if err := json.Unmarshal(r.Output, v); err != nil {
		t.Fatalf("output %s: %v", r.Output, err)
	}
}

// TestFetchThenReview runs the quick start's pipeline by hand: the diff
// fetch makes up is one review finds four things in, on the right lines.
func TestFetchThenReview(t *testing.T) {
	t.Parallel()
	url := startAgent(t)
	status, _, body := callAgent(t, url, "", "fetch", `{"repo":"acme/api"}`)
	if status != 200 {
		t.Fatalf("fetch: %d %s", status, body)
	}
	var c change
	output(t, body, &c)
	if c.Repo != "acme/api" || len(c.Commit) != 40 || !strings.HasPrefix(c.Diff, "diff --git ") || len(c.Files) != 2 {
		t.Fatalf("fetch = %+v", c)
	}
	_, _, again := callAgent(t, url, "", "fetch", `{"repo":"acme/api"}`)
	_, _, other := callAgent(t, url, "", "fetch", `{"repo":"acme/web"}`)
	if again != body || other == body {
		t.Fatalf("fetch is not a function of the repo:\n%s\n%s\n%s", body, again, other)
	}

	in, _ := json.Marshal(map[string]string{"diff": c.Diff})
	status, _, body = callAgent(t, url, "", "review", string(in))
	if status != 200 {
		t.Fatalf("review: %d %s", status, body)
	}
	var r reviewOutput
	output(t, body, &r)
	type found struct {
		File string
		Line int
		Rule string
	}
	var got []found
	for _, f := range r.Findings {
		got = append(got, found{f.File, f.Line, f.Rule})
	}
	want := []found{
		{"internal/handler/users.go", 15, "ignored-error"},
		{"internal/handler/users.go", 16, "todo"},
		{"internal/handler/users.go", 22, "debug-print"},
		{"internal/store/users.go", 23, "sql-format"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings = %+v\nwant %+v", got, want)
	}
	if r.Approved || r.Files != 2 || r.Summary != "4 findings in 2 files (1 error, 2 warnings, 1 info): changes requested." {
		t.Errorf("verdict = %+v", r)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	url := startAgent(t)
	for _, tt := range []struct{ input, summary string }{
		{`{"text":"The gateway stores runs. Agents do the work."}`, "The gateway stores runs."},
		{`{"text":"  version 1.2 is out! Upgrade soon."}`, "version 1.2 is out!"},
		{`{"text":"no full stop at all"}`, "no full stop at all"},
		{`{"text":"one two three four","max_words":2}`, "one two…"},
		{`{"text":"A heading\n\nThen a paragraph."}`, "A heading"},
	} {
		status, _, body := callAgent(t, url, "", "summarize", tt.input)
		var out summarizeOutput
		output(t, body, &out)
		if status != 200 || out.Summary != tt.summary {
			t.Errorf("summarize %s = %d %+v, want %q", tt.input, status, out, tt.summary)
		}
	}
}

// TestBadCalls checks that every call the agent cannot serve is a 400
// problem saying why, which the gateway quotes and does not retry.
func TestBadCalls(t *testing.T) {
	t.Parallel()
	url := startAgent(t)
	for _, tt := range []struct{ capability, input, detail string }{
		{"", `{}`, "no capability asked for: name one of fetch, review, summarize"},
		{"translate", `{}`, `unknown capability "translate": this agent has fetch, review, summarize`},
		{"summarize", `null`, "input must be a JSON object"},
		{"summarize", `{"text":" "}`, "input.text is required"},
		{"summarize", `{"text":"x","max_words":0}`, "input.max_words must be from 1 to 1000, not 0"},
		{"fetch", `{}`, "input.repo is required"},
		{"fetch", `{"repo":"acme"}`, `input.repo must be a repository as owner/name, such as acme/api, not "acme"`},
		{"fetch", `{"repo":7}`, "input: json: cannot unmarshal number"},
		{"review", `{"diff":"just text"}`, "input.diff is not a unified diff"},
		{"review", `{"diff":"+++ b/x\n@@ nonsense"}`, "is not a hunk header"},
	} {
		status, h, body := callAgent(t, url, "", tt.capability, tt.input)
		var p struct {
			Status int
			Detail string
		}
		_ = json.Unmarshal([]byte(body), &p)
		if status != 400 || p.Status != 400 || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(p.Detail, tt.detail) {
			t.Errorf("%s %s: %d %s %s, want 400 with %q", tt.capability, tt.input, status, h.Get("Content-Type"), body, tt.detail)
		}
	}
}

// TestIdempotencyKey checks that a repeated key gets the first answer, said
// to be a replay, and that a failed answer is not kept.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	url := startAgent(t)
	status, h, first := callAgent(t, url, "run-1/summarize", "summarize", `{"text":"First answer."}`)
	if status != 200 || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first call: %d %v %s", status, h, first)
	}
	// The same key with another input: the first answer, not new work.
	status, h, again := callAgent(t, url, "run-1/summarize", "summarize", `{"text":"Second answer."}`)
	if status != 200 || again != first || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeated key: %d %v %s, want %s replayed", status, h, again, first)
	}

	if status, _, _ := callAgent(t, url, "run-2/fetch", "fetch", `{}`); status != 400 {
		t.Fatalf("bad fetch: %d", status)
	}
	status, h, body := callAgent(t, url, "run-2/fetch", "fetch", `{"repo":"acme/api"}`)
	if status != 200 || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry after a failure: %d %v %s", status, h, body)
	}
}

func TestAnswersForgetTheOldest(t *testing.T) {
	t.Parallel()
	m := newAnswers(2)
	for _, k := range []string{"a", "b", "c"} {
		ans, first := m.claim(k)
		if !first {
			t.Fatalf("%s claimed twice", k)
		}
		ans.status = 200
		m.done(k, ans)
	}
	if _, first := m.claim("a"); !first {
		t.Fatal("the oldest key is still remembered")
	}
	if _, first := m.claim("c"); first {
		t.Fatal("the newest key was forgotten")
	}
}

func TestHealthAndStop(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln) }()

	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run after stop: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the port still accepts connections after the stop")
	}
}
