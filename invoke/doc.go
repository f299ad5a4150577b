// Package invoke calls agents for the gateway: it implements
// platform.AgentInvoker over the agent's protocol.
//
// An agent speaking "http" (the default) receives one JSON POST per call
// and answers with its output; an agent speaking "a2a" receives an A2A
// JSON-RPC message/send whose task the client follows with tasks/get until
// it ends. docs/agent-protocol.md is the contract for agent authors; this
// package is its implementation.
//
// Every failure is a *platform.InvocationError that says whether another
// attempt may succeed: 5xx, 408, 429, connection errors and timeouts are
// retryable; other 4xx, answers that are not JSON or are too large, and
// tasks the agent failed or rejected are not. A call whose context is
// cancelled (rather than timed out) is not retryable either: whoever
// cancelled it no longer wants the answer.
//
// Calls go over net/http's Transport, tuned in transport.go: HTTP/1.1,
// kept-alive connections closed after IdleConnTimeout idle, no proxy, no
// redirects. Every connection is opened by the dialer of dial.go, where a
// Client's Guard judges each address a host name resolved to before it is
// connected to, and a refusal fails the call for good.
package invoke
