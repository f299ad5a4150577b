package invoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/invoke"
)

// secretMap is a SecretSource of fixed values per namespace and name; err,
// when set, is what every lookup fails with.
type secretMap struct {
	mu     sync.Mutex
	values map[string]string // "namespace/name" → value
	err    error
	asked  []string
}

func (s *secretMap) Reveal(_ context.Context, namespace, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, namespace+"/"+name)
	if s.err != nil {
		return "", s.err
	}
	v, ok := s.values[namespace+"/"+name]
	if !ok {
		return "", platform.Errorf(platform.ENOTFOUND, "secret %q not found", name)
	}
	return v, nil
}

const tokenValue = "tok-7c1d-never-shown"

// An http agent with Auth gets its secret in the header it names, on
// every call and every probe, looked up anew each time in the agent's
// namespace.
func TestInvokeHTTPSendsTheSecret(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	a, _ := agentAt(t, platform.ProtocolHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Api-Key"))
		mu.Unlock()
		fmt.Fprint(w, `{"output":"ok"}`)
	}))
	a.Namespace = "team-a"
	a.Auth = &platform.AgentAuth{Header: "Authorization", Scheme: "Bearer", Secret: "billing-token"}
	secrets := &secretMap{values: map[string]string{"team-a/billing-token": tokenValue, "default/billing-token": "wrong-namespace"}}
	c := invoke.New()
	c.Secrets = secrets
	if _, err := c.Invoke(t.Context(), a, testInvocation()); err != nil {
		t.Fatal(err)
	}
	if err := c.Probe(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	// A new value applies to the next call; another header, without a scheme.
	secrets.mu.Lock()
	secrets.values["team-a/billing-token"] = "tok-2"
	secrets.mu.Unlock()
	a.Auth = &platform.AgentAuth{Header: "x-api-key", Secret: "billing-token"}
	if _, err := c.Invoke(t.Context(), a, testInvocation()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/run Bearer " + tokenValue + " ", "/run/health Bearer " + tokenValue + " ", "/run  tok-2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the agent saw %q, want %q", got, want)
	}
}

// An A2A agent with Auth gets the header on message/send and on every
// tasks/get that follows its task, and on the fetch of its card.
func TestInvokeA2ASendsTheSecret(t *testing.T) {
	t.Parallel()
	agent := newSDKAgent(t, executorFunc(func(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
		if err := q.Write(ctx, a2a.NewStatusUpdateEvent(reqCtx, a2a.TaskStateWorking, nil)); err != nil {
			return err
		}
		return complete(ctx, reqCtx, q, a2a.DataPart{Data: map[string]any{"done": true}})
	}))
	agent.Auth = &platform.AgentAuth{Header: "Authorization", Scheme: "Bearer", Secret: "a2a-token"}
	c := invoke.New()
	c.A2ANonBlocking = true
	c.Secrets = &secretMap{values: map[string]string{"default/a2a-token": tokenValue}}
	out, err := c.Invoke(t.Context(), agent.Agent, testInvocation())
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"done":true}` {
		t.Errorf("output = %s", out)
	}
	methods, headers, _ := agent.calls()
	if len(methods) == 0 || methods[0] != "message/send" {
		t.Fatalf("methods = %q", methods)
	}
	for i, h := range headers {
		if got := h.Get("Authorization"); got != "Bearer "+tokenValue {
			t.Errorf("%s: Authorization = %q", methods[i], got)
		}
	}
	if err := c.Probe(t.Context(), agent.Agent); err != nil {
		t.Fatal(err)
	}
}

// A call that cannot get its secret is not made, and its error names the
// secret, never a value.
func TestInvokeWithoutTheSecret(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	a, _ := agentAt(t, platform.ProtocolHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, `{"output":"ok"}`)
	}))
	a.Auth = &platform.AgentAuth{Header: "Authorization", Secret: "gone"}
	for _, tc := range []struct {
		name      string
		secrets   invoke.SecretSource
		retryable bool
		want      string
	}{
		{"no secrets", nil, false, `agent echo authenticates with the secret "gone", but this gateway keeps no secrets (set OSSA_SECRET_KEY)`},
		{"missing", &secretMap{}, false, `agent echo authenticates with the secret "gone", which namespace "default" does not have: set it (ossa secrets set gone)`},
		{"undecryptable", &secretMap{err: platform.Errorf(platform.EUNAVAILABLE, "it is encrypted under key k1, which this gateway does not have")}, false,
			`agent echo was not called: its secret "gone": it is encrypted under key k1, which this gateway does not have`},
		{"store down", &secretMap{err: errors.New("database is closed")}, true,
			`agent echo was not called: its secret "gone" could not be read: database is closed`},
	} {
		c := invoke.New()
		c.Secrets = tc.secrets
		_, err := c.Invoke(t.Context(), a, testInvocation())
		ie := invocationError(t, err)
		if ie.Retryable != tc.retryable || ie.Message != tc.want {
			t.Errorf("%s: %+v\nwant %q (retryable %v)", tc.name, ie, tc.want, tc.retryable)
		}
		if err := c.Probe(t.Context(), a); err == nil || !strings.Contains(err.Error(), `"gone"`) {
			t.Errorf("%s: probe: %v", tc.name, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the agent was called %d times", n)
	}
	b, _ := json.Marshal(a)
	if !strings.Contains(string(b), `"auth":{"header":"Authorization","secret":"gone"}`) {
		t.Errorf("agent JSON: %s", b)
	}
}
