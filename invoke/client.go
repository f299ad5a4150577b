package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/jsondepth"
)

// DefaultMaxResponseBytes bounds an agent's answer when
// Client.MaxResponseBytes is not set: 10 MiB.
const DefaultMaxResponseBytes = 10 << 20

// DefaultProbeTimeout bounds a health probe whose context has no deadline.
const DefaultProbeTimeout = 5 * time.Second

// errorBodyLimit bounds how much of an error answer is read for its detail.
const errorBodyLimit = 64 << 10

// detailLimit is how many characters of an agent's own error text an
// InvocationError quotes.
const detailLimit = 200

// Client calls agents over HTTP or A2A. Its zero value works; New returns
// one tuned for a gateway. A Client is safe for concurrent use.
type Client struct {
	// HTTP is the client used for every call. New sets one that speaks
	// HTTP/1.1 over kept-alive connections, up to 256 idle ones per agent
	// address, each closed after IdleConnTimeout idle, without proxies,
	// that does not follow redirects, and that has no overall timeout: each
	// call's context carries the step timeout. Default (nil): such a
	// client, shared by every Client that leaves this nil; a Client with a
	// Guard needs New's.
	HTTP *http.Client
	// Guard, when set, judges every address the client connects to, at
	// dial time (see Guard). It applies to the HTTP client New sets; a
	// Client with a Guard and any other HTTP client, or none, fails every
	// call, since its connections could not be guarded. Set it before the
	// first call. Default nil: every address may be called.
	Guard Guard
	// Secrets gives the values of the secrets agents authenticate with
	// (platform.Agent.Auth), looked up at every call. Default nil: a call
	// to an agent with Auth fails for good, saying why.
	Secrets SecretSource
	// MaxResponseBytes bounds an agent's answer; a larger one is a
	// permanent failure. Default DefaultMaxResponseBytes (10 MiB).
	MaxResponseBytes int64
	// UserAgent is sent with every call. Default "ossa-gateway/" followed
	// by platform.Version.
	UserAgent string
	// A2ANonBlocking asks A2A agents to answer message/send at once with
	// their task, which the client then polls with tasks/get. Default
	// false: the agent holds the call until the task ends, which spares the
	// polling delay; a task that is still running when the agent answers is
	// polled either way.
	A2ANonBlocking bool

	// guarded is the HTTP client New made, whose dialer asks Guard.
	guarded *http.Client
}

var _ platform.AgentInvoker = (*Client)(nil)

// SecretSource gives the values of secrets: platform.Secrets.
type SecretSource interface {
	// Reveal returns the value of the secret name of namespace, or an
	// ENOTFOUND error.
	Reveal(ctx context.Context, namespace, name string) (string, error)
}

// New returns a Client with a connection pool sized for many concurrent
// calls to few agents.
func New() *Client {
	c := &Client{
		MaxResponseBytes: DefaultMaxResponseBytes,
		UserAgent:        defaultUserAgent(),
	}
	c.HTTP = newHTTPClient(newDialer(func() Guard { return c.Guard }), IdleConnTimeout)
	c.guarded = c.HTTP
	return c
}

// newHTTPClient returns the client of every call to agents, which opens
// its connections with dialer and closes them after idleTimeout idle.
func newHTTPClient(dialer *net.Dialer, idleTimeout time.Duration) *http.Client {
	return &http.Client{
		Transport: newTransport(dialer, idleTimeout),
		// A redirected POST would arrive as a GET without its body: an
		// agent that moved must be registered at its new endpoint.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func defaultUserAgent() string { return "ossa-gateway/" + platform.Version }

var sharedHTTP = sync.OnceValue(func() *http.Client { return newHTTPClient(newDialer(nil), IdleConnTimeout) })

// errUnguarded fails the calls of a Client with a Guard and an HTTP
// client New did not make.
var errUnguarded = errors.New("the client has a Guard but not the HTTP client invoke.New made, so its connections cannot be guarded")

// httpClient returns the client for a call: HTTP, or the shared default.
// It fails when Guard cannot apply.
func (c *Client) httpClient() (*http.Client, error) {
	switch {
	case c.Guard != nil && (c.HTTP == nil || c.HTTP != c.guarded):
		return nil, errUnguarded
	case c.HTTP != nil:
		return c.HTTP, nil
	}
	return sharedHTTP(), nil
}

// do sends req with the client's HTTP client.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	return hc.Do(req)
}

// CloseIdleConnections closes the connections kept to agents that no call
// is using: after a Guard changed its mind, or before the Client is
// dropped.
func (c *Client) CloseIdleConnections() {
	if hc, err := c.httpClient(); err == nil {
		hc.CloseIdleConnections()
	}
}

func (c *Client) maxResponseBytes() int64 {
	if c.MaxResponseBytes > 0 {
		return c.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

func (c *Client) userAgent() string {
	if c.UserAgent != "" {
		return c.UserAgent
	}
	return defaultUserAgent()
}

// Invoke calls the agent over its protocol and returns its output. Errors
// are *platform.InvocationError.
func (c *Client) Invoke(ctx context.Context, a *platform.Agent, inv *platform.Invocation) (json.RawMessage, error) {
	if a.Endpoint == "" {
		return nil, permanent(0, "agent %s has no endpoint to call", agentName(a))
	}
	var out json.RawMessage
	var err error
	switch a.Protocol {
	case platform.ProtocolHTTP, "":
		out, err = c.invokeHTTP(ctx, a, inv)
	case platform.ProtocolA2A:
		out, err = c.invokeA2A(ctx, a, inv)
	default:
		return nil, permanent(0, "agent %s speaks protocol %q, which the gateway does not know", agentName(a), a.Protocol)
	}
	if err == nil {
		if _, over := jsondepth.Exceeds(out, MaxOutputDepth); over {
			return nil, permanent(0, "agent %s answered with an output whose arrays and objects nest deeper than %d levels", agentName(a), MaxOutputDepth)
		}
	}
	return out, err
}

// MaxOutputDepth is how deeply arrays and objects may nest in an agent's
// output. A run stores its steps' outputs, nested in its own, so the bound
// keeps every run storable (SQLite's JSON functions stop at 1,000 levels).
const MaxOutputDepth = 128

// Probe checks the agent's health: GET {endpoint}/health for an http
// agent, its agent card for an a2a agent. A context without a deadline is
// given DefaultProbeTimeout. Errors are *platform.InvocationError.
func (c *Client) Probe(ctx context.Context, a *platform.Agent) error {
	if a.Endpoint == "" {
		return permanent(0, "agent %s has no endpoint to probe", agentName(a))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultProbeTimeout)
		defer cancel()
	}
	if a.Protocol == platform.ProtocolA2A {
		return c.probeA2A(ctx, a)
	}
	return c.probeHTTP(ctx, a)
}

// get fetches u for a probe and returns its body when it answered 2xx.
// subject names what was fetched in error messages ("the health endpoint
// of agent x").
func (c *Client) get(ctx context.Context, a *platform.Agent, u, subject string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, permanent(0, "agent %s has an endpoint the gateway cannot call: %v", agentName(a), err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent())
	if err := c.authorize(ctx, req, a); err != nil {
		return nil, err
	}
	onDeadline := subject + " did not answer in time"
	resp, err := c.do(req)
	if err != nil {
		return nil, transportError(ctx, a, err, onDeadline)
	}
	defer resp.Body.Close()
	if !is2xx(resp.StatusCode) {
		return nil, statusError(resp, subject)
	}
	body, tooLarge, err := readLimited(resp, c.maxResponseBytes())
	switch {
	case err != nil:
		return nil, transportError(ctx, a, err, onDeadline)
	case tooLarge:
		return nil, permanent(resp.StatusCode, "%s answered with more than %d bytes, the response size limit", subject, c.maxResponseBytes())
	}
	return body, nil
}

// setCallHeaders sets the headers every call of an invocation carries.
func (c *Client) setCallHeaders(req *http.Request, inv *platform.Invocation) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent())
	if inv.RequestID != "" {
		req.Header.Set("X-Request-ID", inv.RequestID)
	}
	if inv.TraceParent != "" {
		req.Header.Set("traceparent", inv.TraceParent)
	}
}

// authorize sets the header a's Auth asks for, with the value of its
// secret, read now. The value appears in no error: only its name does.
func (c *Client) authorize(ctx context.Context, req *http.Request, a *platform.Agent) error {
	if a.Auth == nil {
		return nil
	}
	name, ns := a.Auth.Secret, a.Namespace
	if ns == "" {
		ns = platform.DefaultNamespace
	}
	if c.Secrets == nil {
		return permanent(0, "agent %s authenticates with the secret %q, but this gateway keeps no secrets (set OSSA_SECRET_KEY)", agentName(a), name)
	}
	value, err := c.Secrets.Reveal(ctx, ns, name)
	var pe *platform.Error
	switch {
	case err == nil:
	case platform.ErrorCode(err) == platform.ENOTFOUND:
		return permanent(0, "agent %s authenticates with the secret %q, which namespace %q does not have: set it (ossa secrets set %s)", agentName(a), name, ns, name)
	case errors.As(err, &pe):
		return permanent(0, "agent %s was not called: its secret %q: %s", agentName(a), name, pe.Message)
	case ctx.Err() != nil:
		return transportError(ctx, a, ctx.Err(), "the secret of agent "+agentName(a)+" could not be read in time")
	default:
		// The store failed: another try may find it back.
		return &platform.InvocationError{Retryable: true, Message: fmt.Sprintf("agent %s was not called: its secret %q could not be read: %v", agentName(a), name, err)}
	}
	req.Header.Set(a.Auth.HeaderName(), a.Auth.HeaderValue(value))
	return nil
}

// readLimited reads resp's body up to limit bytes; tooLarge reports a body
// that goes beyond, of which no more than limit+1 bytes were read.
func readLimited(resp *http.Response, limit int64) (body []byte, tooLarge bool, err error) {
	if resp.ContentLength > limit {
		return nil, true, nil
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return nil, false, err
	}
	if int64(buf.Len()) > limit {
		return nil, true, nil
	}
	return buf.Bytes(), false, nil
}

// statusError describes a non-2xx answer from subject ("agent x").
// 5xx, 408 Request Timeout and 429 Too Many Requests are retryable: each
// says the agent could not take the call now, not that the call is wrong.
func statusError(resp *http.Response, subject string) *platform.InvocationError {
	code := resp.StatusCode
	msg := subject + " answered " + statusText(code)
	if code >= 300 && code < 400 {
		msg += fmt.Sprintf(" redirecting to %q, which the gateway does not follow: register the agent at its final endpoint", resp.Header.Get("Location"))
	} else {
		body, _, _ := readLimited(resp, errorBodyLimit)
		if d := errorDetail(resp.Header.Get("Content-Type"), body); d != "" {
			msg += ": " + d
		}
	}
	return &platform.InvocationError{
		Retryable:  code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests,
		StatusCode: code,
		Message:    msg,
	}
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("status %d", code)
}

// errorDetail finds the agent's own words in an error body: a problem's
// detail (or title), or an "error" or "message" member of a JSON object, or
// a short plain-text body.
func errorDetail(contentType string, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	if body[0] == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			return ""
		}
		for _, key := range []string{"detail", "error", "message", "title"} {
			if s := textOf(obj[key]); s != "" {
				return excerpt(s, detailLimit)
			}
		}
		return ""
	}
	if strings.HasPrefix(contentType, "text/plain") && utf8.Valid(body) {
		return excerpt(string(body), detailLimit)
	}
	return ""
}

// textOf returns raw as text when it is a JSON string, or the message of
// an object like {"message": "..."}.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return strings.TrimSpace(obj.Message)
	}
	return ""
}

// excerpt is s on one line (every run of white space one space), shortened
// to at most n characters with the cut marked: an agent's own words in a
// message.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// snippet quotes the start of a body for an error message.
func snippet(body []byte) string {
	const n = 100
	if len(body) <= n {
		return fmt.Sprintf("%q", body)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(body[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", body[:cut])
}

// transportError describes a call that got no answer. onDeadline is the
// message for a context that ran out of time.
func transportError(ctx context.Context, a *platform.Agent, err error, onDeadline string) *platform.InvocationError {
	name := agentName(a)
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return &platform.InvocationError{Retryable: true, Message: onDeadline}
	case errors.Is(ctxErr, context.Canceled):
		msg := fmt.Sprintf("the call to agent %s was cancelled", name)
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			msg += ": " + cause.Error()
		}
		return &platform.InvocationError{Message: msg}
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	if headTooLarge(err) {
		return permanent(0, "agent %s answered with a status line and headers of more than %d bytes", name, maxHeadBytes)
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		return permanent(0, "agent %s was not called: %v", name, refused)
	}
	if errors.Is(err, errUnguarded) {
		return permanent(0, "agent %s was not called: %v", name, err)
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	var msg string
	switch {
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("agent %s is unreachable: its host %q could not be resolved", name, dnsErr.Name)
		if !dnsErr.IsNotFound {
			msg += ": " + dnsErr.Err
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("agent %s refused the connection", name)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		msg = fmt.Sprintf("agent %s closed the connection before it finished answering", name)
	case errors.As(err, &netErr) && netErr.Timeout():
		msg = fmt.Sprintf("the connection to agent %s timed out: %v", name, err)
	default:
		msg = fmt.Sprintf("calling agent %s failed: %v", name, err)
	}
	return &platform.InvocationError{Retryable: true, Message: msg}
}

// headTooLarge reports whether err is net/http's Transport refusing an
// answer whose head is over MaxResponseHeaderBytes: an error without a
// type of its own, known by its text, which a test pins.
func headTooLarge(err error) bool {
	return strings.Contains(err.Error(), "net/http: server response headers exceeded ")
}

func permanent(status int, format string, args ...any) *platform.InvocationError {
	return &platform.InvocationError{StatusCode: status, Message: fmt.Sprintf(format, args...)}
}

func agentName(a *platform.Agent) string {
	if a.Name != "" {
		return a.Name
	}
	return a.Endpoint
}

func is2xx(code int) bool { return code >= 200 && code < 300 }

// isObject reports whether b, trimmed, starts as a JSON object.
func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
