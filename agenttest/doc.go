// Package agenttest runs nothing: it reads OSSA AgentTest manifests into
// Suites, judges what an agent answered against a scenario's assertions,
// and reports the outcome as JSON or JUnit XML. A runner (the gateway, the
// CLI) calls the target agent with each scenario's Input, measures the
// call into an Observation, and passes it to Check; NewReport and
// WriteJUnit turn the results into a report.
//
// Parse reads a manifest with positions (package manifest) and reports
// every problem at once by JSON pointer. Assertions are compiled once,
// when read: regular expressions within MaxPatternLen and MaxPatternInsts,
// JSONPath queries (RFC 9535, github.com/theory/jsonpath) and inline JSON
// Schemas that may not load anything from outside. Evaluate gives a reason
// for every failure that says what differed and where ("output.total is
// 41.5, want 42"). docs/agent-tests.md describes the format and each
// assertion's semantics.
package agenttest
