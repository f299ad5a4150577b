// Package manifest reads OSSA manifests of every released version and
// judges them as the official schemas of their releases do.
//
// Parse reads YAML (several documents per file too) or JSON into Nodes that
// keep each value's line and column. Validate picks the schema of a
// document's apiVersion and kind (schemaRules), evaluates it, and adds the
// checks no schema can express: an Agent's (checks.go), and for a Workflow
// its compilation. Every problem is a Diagnostic with a stable code, a JSON
// pointer, a position and a message.
//
// CompileWorkflow is the one compiler of a Workflow into the Plan the
// engine executes (compile.go): it decodes the members the engine reads,
// strictly, checks the steps (ids, kinds, depends_on, cycles, on_error) and
// parses every expression with package expr, checking each reference
// against what can exist where it is read (compile_refs.go). Validation and
// the engine both run it, so they cannot disagree.
// Decode gives typed views of the kinds the platform acts on; RegistryAgent
// derives a registry entry from an Agent manifest; Conformance scores a
// manifest against the OSSA conformance profiles.
//
// The schema documents under schemas/ are the platform's own: they express
// each release's constraints in YAML without carrying over the official
// files. docs/ossa-conformance.md records how their verdicts compare with
// the official ones on the OSSA corpus.
package manifest
