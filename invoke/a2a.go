package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/a2aproject/a2a-go/a2a"

	"github.com/ossa-platform/platform"
)

// The SDK's a2aclient is not used: its package also holds the gRPC
// transport, which would bring google.golang.org/grpc into the gateway.
// Requests are built from the SDK's light a2a types; answers are decoded
// into the local types below, which keep data parts as raw JSON where
// a2a.DataPart's map[string]any would turn numbers into float64 and round
// integers beyond 2^53.

// agentCardPath is where an A2A agent serves its card (a2asrv.WellKnownAgentCardPath).
const agentCardPath = "/.well-known/agent-card.json"

// Polling a task that is still running starts at pollMin and doubles up to pollMax.
const (
	pollMin = 50 * time.Millisecond
	pollMax = time.Second
)

// JSON-RPC methods and error codes of A2A.
const (
	methodMessageSend = "message/send"
	methodTasksGet    = "tasks/get"
	rpcInternalError  = -32603
)

// rpcCodeNames names the error codes of JSON-RPC and A2A.
var rpcCodeNames = map[int]string{
	-32700: "parse error",
	-32600: "invalid request",
	-32601: "method not found",
	-32602: "invalid params",
	-32603: "internal error",
	-32001: "task not found",
	-32002: "task not cancelable",
	-32003: "push notification not supported",
	-32004: "unsupported operation",
	-32005: "content type not supported",
	-32006: "invalid agent response",
}

var rpcID atomic.Int64

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// a2aResult is a Task or a Message, as message/send and tasks/get answer.
type a2aResult struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Status struct {
		State   a2a.TaskState `json:"state"`
		Message *struct {
			Parts []a2aPart `json:"parts"`
		} `json:"message"`
	} `json:"status"`
	Artifacts []struct {
		Parts []a2aPart `json:"parts"`
	} `json:"artifacts"`
	Parts []a2aPart `json:"parts"`
}

type a2aPart struct {
	Kind string          `json:"kind"`
	Text string          `json:"text"`
	Data json.RawMessage `json:"data"`
}

// invokeA2A sends the invocation as an A2A message and follows the task it
// starts until the task ends.
func (c *Client) invokeA2A(ctx context.Context, a *platform.Agent, inv *platform.Invocation) (json.RawMessage, error) {
	name := agentName(a)
	data, err := a2aData(inv.Input)
	if err != nil {
		return nil, permanent(0, "the input of the call to agent %s is not JSON: %v", name, err)
	}
	invContext := inv.Context
	if invContext == nil {
		invContext = map[string]any{}
	}
	blocking := !c.A2ANonBlocking
	params := &a2a.MessageSendParams{
		Message: &a2a.Message{
			ID:    a2a.NewMessageID(),
			Role:  a2a.MessageRoleUser,
			Parts: a2a.ContentParts{a2a.DataPart{Data: data}},
			Metadata: map[string]any{
				"task_id":         inv.TaskID,
				"run_id":          inv.RunID,
				"step":            inv.Step,
				"capability":      inv.Capability,
				"idempotency_key": inv.IdempotencyKey,
				"context":         invContext,
			},
		},
		Config: &a2a.MessageSendConfig{Blocking: &blocking},
	}
	res, status, err := c.rpc(ctx, a, inv, methodMessageSend, params)
	if err != nil {
		return nil, err
	}
	if res.Kind == "message" || (res.Kind == "" && res.Status.State == "") {
		out, _ := partsOutput(res.Parts)
		return out, nil
	}
	if res.Kind != "task" && res.Kind != "" {
		return nil, permanent(status, "agent %s answered message/send with a result of kind %q, neither a task nor a message", name, res.Kind)
	}

	zero := 0
	delay := pollMin
	for {
		switch res.Status.State {
		case a2a.TaskStateSubmitted, a2a.TaskStateWorking, a2a.TaskStateUnknown:
		default:
			return taskOutcome(name, status, res)
		}
		if res.ID == "" {
			return nil, permanent(status, "agent %s answered with a task in state %q that has no id to follow", name, res.Status.State)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, transportError(ctx, a, ctx.Err(), "agent "+name+" did not finish its task within the step timeout")
		case <-timer.C:
		}
		delay = min(2*delay, pollMax)
		id := res.ID
		res, status, err = c.rpc(ctx, a, inv, methodTasksGet, &a2a.TaskQueryParams{ID: a2a.TaskID(id), HistoryLength: &zero})
		if err != nil {
			return nil, err
		}
		if res.Kind != "task" && res.Kind != "" {
			return nil, permanent(status, "agent %s answered tasks/get with a result of kind %q, not a task", name, res.Kind)
		}
		if res.ID == "" {
			res.ID = id
		}
	}
}

// taskOutcome turns a task that stopped running into the step's output or
// failure.
func taskOutcome(name string, status int, t *a2aResult) (json.RawMessage, error) {
	state := t.Status.State
	var statusParts []a2aPart
	if t.Status.Message != nil {
		statusParts = t.Status.Message.Parts
	}
	switch state {
	case a2a.TaskStateCompleted:
		var parts []a2aPart
		for _, art := range t.Artifacts {
			parts = append(parts, art.Parts...)
		}
		if out, ok := partsOutput(parts); ok {
			return out, nil
		}
		out, _ := partsOutput(statusParts)
		return out, nil
	case a2a.TaskStateFailed, a2a.TaskStateRejected, a2a.TaskStateCanceled:
		msg := fmt.Sprintf("agent %s ended the task as %s", name, state)
		if text := partsText(statusParts); text != "" {
			msg += ": " + excerpt(text, detailLimit)
		}
		return nil, permanent(status, "%s", msg)
	case a2a.TaskStateInputRequired, a2a.TaskStateAuthRequired:
		msg := fmt.Sprintf("agent %s paused the task as %s, waiting for something the gateway cannot give", name, state)
		if text := partsText(statusParts); text != "" {
			msg += ": " + excerpt(text, detailLimit)
		}
		return nil, permanent(status, "%s", msg)
	default:
		return nil, permanent(status, "agent %s answered with a task in state %q, which A2A does not define", name, state)
	}
}

// rpc calls one JSON-RPC method of the agent and decodes its result. status
// is the HTTP status of the answer.
func (c *Client) rpc(ctx context.Context, a *platform.Agent, inv *platform.Invocation, method string, params any) (res *a2aResult, status int, err error) {
	name := agentName(a)
	body, err := json.Marshal(rpcRequest{JSONRPC: "2.0", ID: rpcID.Add(1), Method: method, Params: params})
	if err != nil {
		return nil, 0, permanent(0, "the %s call to agent %s could not be encoded: %v", method, name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, 0, permanent(0, "agent %s has an endpoint the gateway cannot call: %v", name, err)
	}
	c.setCallHeaders(req, inv)
	if err := c.authorize(ctx, req, a); err != nil {
		return nil, 0, err
	}
	if method == methodMessageSend && inv.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", inv.IdempotencyKey)
	}

	onDeadline := "agent " + name + " did not answer within the step timeout"
	if method == methodTasksGet {
		onDeadline = "agent " + name + " did not finish its task within the step timeout"
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, 0, transportError(ctx, a, err, onDeadline)
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	if !is2xx(status) {
		return nil, status, statusError(resp, "agent "+name)
	}
	limit := c.maxResponseBytes()
	b, tooLarge, err := readLimited(resp, limit)
	switch {
	case err != nil:
		return nil, status, transportError(ctx, a, err, onDeadline)
	case tooLarge:
		return nil, status, permanent(status, "agent %s answered %s with more than %d bytes, the response size limit", name, method, limit)
	}
	var r rpcResponse
	if !isObject(b) || json.Unmarshal(b, &r) != nil {
		return nil, status, permanent(status, "agent %s answered %s with a body that is not a JSON-RPC response: %s", name, method, snippet(b))
	}
	if r.Error != nil {
		return nil, status, r.Error.invocationError(name, method, status)
	}
	res = new(a2aResult)
	if !isObject(r.Result) || json.Unmarshal(r.Result, res) != nil {
		return nil, status, permanent(status, "agent %s answered %s with a result that is neither a task nor a message: %s", name, method, snippet(r.Result))
	}
	return res, status, nil
}

// invocationError describes a JSON-RPC error. Only an internal error is
// retryable: the others say the request itself is wrong.
func (e *rpcError) invocationError(name, method string, status int) *platform.InvocationError {
	msg := fmt.Sprintf("agent %s answered %s with JSON-RPC error %d", name, method, e.Code)
	if n, ok := rpcCodeNames[e.Code]; ok {
		msg += " (" + n + ")"
	}
	detail := strings.TrimSpace(e.Message)
	if d := rpcErrorData(e.Data); d != "" && d != detail {
		detail = strings.TrimPrefix(detail+": "+d, ": ")
	}
	if detail != "" {
		msg += ": " + excerpt(detail, detailLimit)
	}
	return &platform.InvocationError{Retryable: e.Code == rpcInternalError, StatusCode: status, Message: msg}
}

// rpcErrorData returns the text of a JSON-RPC error's data: a string, the
// "error" or "message" member of an object, or the compact JSON.
func rpcErrorData(data json.RawMessage) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return ""
	}
	if s := textOf(data); s != "" {
		return s
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) == nil {
		for _, key := range []string{"error", "detail", "message"} {
			if s := textOf(obj[key]); s != "" {
				return s
			}
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, data) != nil {
		return ""
	}
	return buf.String()
}

// a2aData turns an invocation's input into the data of a data part, which
// A2A requires to be an object: an object is sent as is, nothing as {},
// any other value as {"input": value}. Values stay raw JSON so that
// numbers keep every digit.
func a2aData(input json.RawMessage) (map[string]any, error) {
	in := bytes.TrimSpace(input)
	if len(in) == 0 {
		return map[string]any{}, nil
	}
	if in[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(in, &obj); err != nil {
			return nil, err
		}
		data := make(map[string]any, len(obj))
		for k, v := range obj {
			data[k] = v
		}
		return data, nil
	}
	if !json.Valid(in) {
		return nil, fmt.Errorf("invalid JSON %s", snippet(in))
	}
	return map[string]any{"input": json.RawMessage(in)}, nil
}

// partsOutput returns the data of the first data part, else the text parts
// joined as a JSON string, else null with ok false.
func partsOutput(parts []a2aPart) (out json.RawMessage, ok bool) {
	for _, p := range parts {
		if p.Kind == "data" && len(p.Data) > 0 {
			return p.Data, true
		}
	}
	if text, found := joinText(parts); found {
		b, _ := json.Marshal(text)
		return b, true
	}
	return json.RawMessage(`null`), false
}

// partsText is the text of a status message: its text parts, else its
// first data part as compact JSON.
func partsText(parts []a2aPart) string {
	if text, found := joinText(parts); found {
		return strings.TrimSpace(text)
	}
	for _, p := range parts {
		if p.Kind == "data" && len(p.Data) > 0 {
			var buf bytes.Buffer
			if json.Compact(&buf, p.Data) == nil {
				return buf.String()
			}
		}
	}
	return ""
}

// joinText joins the text parts without a separator: A2A agents that
// stream text append chunks to one artifact, each chunk a part.
func joinText(parts []a2aPart) (string, bool) {
	var b strings.Builder
	found := false
	for _, p := range parts {
		if p.Kind == "text" {
			b.WriteString(p.Text)
			found = true
		}
	}
	return b.String(), found
}

// probeA2A fetches the agent card from the endpoint's origin, then from
// under the endpoint's path: a 2xx JSON object means healthy.
func (c *Client) probeA2A(ctx context.Context, a *platform.Agent) error {
	name := agentName(a)
	u, err := url.Parse(a.Endpoint)
	if err != nil {
		return permanent(0, "agent %s has an endpoint the gateway cannot call: %v", name, err)
	}
	urls := []string{u.Scheme + "://" + u.Host + agentCardPath}
	if p := strings.TrimRight(u.Path, "/"); p != "" {
		under := *u
		under.Path, under.RawPath, under.RawQuery, under.Fragment = p+agentCardPath, "", "", ""
		urls = append(urls, under.String())
	}
	var failed *platform.InvocationError
	for _, cardURL := range urls {
		body, err := c.get(ctx, a, cardURL, fmt.Sprintf("the agent card of agent %s at %s", name, cardURL))
		if err == nil && (!isObject(body) || !json.Valid(body)) {
			err = permanent(http.StatusOK, "the agent card of agent %s at %s is not a JSON object: %s", name, cardURL, snippet(body))
		}
		if err == nil {
			return nil
		}
		var ie *platform.InvocationError
		if !errors.As(err, &ie) {
			return err
		}
		if failed == nil {
			failed = ie
		} else {
			failed = &platform.InvocationError{
				Retryable:  failed.Retryable || ie.Retryable,
				StatusCode: ie.StatusCode,
				Message:    failed.Message + "; " + ie.Message,
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return failed
}
