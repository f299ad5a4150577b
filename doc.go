// Package platform is the domain of OSSA Platform: the nouns (Agent, and
// later Workflow, Run, Event), the errors every layer speaks, and the
// interfaces of the services that adapters implement.
//
// The package imports no adapter. Storage lives in the sqlite and postgres
// packages, the HTTP gateway and its Go client in the http package, and
// cmd/ossa is the only place that wires them together.
package platform

// Version is the platform's version, reported by /health and `ossa version`.
// Release builds override it with -ldflags "-X github.com/ossa-platform/platform.Version=...".
var Version = "0.1.0-dev"
