package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/ossa-platform/platform"
)

// httpRequest is the body of a call to an http agent. Every member is
// always present so that agents can rely on the shape.
type httpRequest struct {
	TaskID     string          `json:"task_id"`
	RunID      string          `json:"run_id"`
	Step       string          `json:"step"`
	Capability string          `json:"capability"`
	Input      json.RawMessage `json:"input"`
	Context    map[string]any  `json:"context"`
}

// invokeHTTP POSTs the invocation to the agent's endpoint.
func (c *Client) invokeHTTP(ctx context.Context, a *platform.Agent, inv *platform.Invocation) (json.RawMessage, error) {
	name := agentName(a)
	in := httpRequest{
		TaskID:     inv.TaskID,
		RunID:      inv.RunID,
		Step:       inv.Step,
		Capability: inv.Capability,
		Input:      inv.Input,
		Context:    inv.Context,
	}
	if len(bytes.TrimSpace(in.Input)) == 0 {
		in.Input = json.RawMessage(`{}`)
	}
	if in.Context == nil {
		in.Context = map[string]any{}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, permanent(0, "the call to agent %s could not be encoded: %v", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, permanent(0, "agent %s has an endpoint the gateway cannot call: %v", name, err)
	}
	c.setCallHeaders(req, inv)
	if err := c.authorize(ctx, req, a); err != nil {
		return nil, err
	}
	// Besides telling the agent, the header lets net/http resend the
	// request on a fresh connection when a pooled one turns out dead.
	if inv.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", inv.IdempotencyKey)
	}

	onDeadline := "agent " + name + " did not answer within the step timeout"
	resp, err := c.do(req)
	if err != nil {
		return nil, transportError(ctx, a, err, onDeadline)
	}
	defer resp.Body.Close()
	if !is2xx(resp.StatusCode) {
		return nil, statusError(resp, "agent "+name)
	}
	limit := c.maxResponseBytes()
	b, tooLarge, err := readLimited(resp, limit)
	switch {
	case err != nil:
		return nil, transportError(ctx, a, err, onDeadline)
	case tooLarge:
		return nil, permanent(resp.StatusCode, "agent %s answered with more than %d bytes, the response size limit", name, limit)
	}
	out, ok := httpOutput(b)
	if !ok {
		return nil, permanent(resp.StatusCode, "agent %s answered with a body that is not JSON: %s", name, snippet(b))
	}
	return out, nil
}

// httpOutput finds the output in a 2xx body: the "output" member of an
// object that has one, else the whole body; null for an empty body. ok is
// false when the body is not JSON.
func httpOutput(b []byte) (out json.RawMessage, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return json.RawMessage(`null`), true
	}
	if b[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(b, &obj) != nil {
			return nil, false
		}
		if out, ok := obj["output"]; ok {
			return out, true
		}
		return b, true
	}
	if !json.Valid(b) {
		return nil, false
	}
	return b, true
}

// probeHTTP checks GET {endpoint}/health.
func (c *Client) probeHTTP(ctx context.Context, a *platform.Agent) error {
	u, err := url.Parse(a.Endpoint)
	if err != nil {
		return permanent(0, "agent %s has an endpoint the gateway cannot call: %v", agentName(a), err)
	}
	u = u.JoinPath("health")
	u.RawQuery, u.Fragment = "", ""
	_, err = c.get(ctx, a, u.String(), "the health endpoint of agent "+agentName(a))
	return err
}
