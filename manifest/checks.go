package manifest

import (
	"fmt"
)

// Codes of the checks beyond the schema. The workflow compiler
// (compile.go) reports the workflow ones, and those it adds.
const (
	CodeDuplicateTool     = "duplicate-tool-name"
	CodeDuplicateStep     = "duplicate-step-id"
	CodeUnknownDependency = "unknown-dependency"
	CodeDependencyCycle   = "dependency-cycle"
	CodeUnknownInput      = "unknown-input"
	CodeUnknownStep       = "unknown-step"
	CodeUnknownVariable   = "unknown-variable"
	CodeNoLLMNoEndpoint   = "no-llm-no-endpoint"
)

// check runs the checks of an Agent the schema cannot express; a
// Workflow's are its compilation's (compile.go).
func check(doc *Document) []Diagnostic {
	c := &checker{root: doc.Root}
	if doc.Kind() == "Agent" {
		c.agent()
	}
	return c.out
}

type checker struct {
	root *Node
	out  []Diagnostic
}

func (c *checker) report(sev Severity, code, ptr, format string, args ...any) {
	c.out = append(c.out, Diagnostic{Severity: sev, Code: code, Pointer: ptr, Pos: c.root.At(ptr).Pos,
		Message: fmt.Sprintf(format, args...)})
}

func (c *checker) agent() {
	spec := c.root.Get("spec")
	seen := map[string]int{}
	for i, tool := range spec.Get("tools").items() {
		name := tool.Get("name").Str()
		if name == "" {
			continue
		}
		if first, dup := seen[name]; dup {
			c.report(SeverityError, CodeDuplicateTool, fmt.Sprintf("/spec/tools/%d/name", i),
				"tool name %q is already used by /spec/tools/%d", name, first)
			continue
		}
		seen[name] = i
	}
	if endpoint, _ := agentEndpoint(c.root); spec.Get("llm") == nil && endpoint == "" {
		c.report(SeverityWarning, CodeNoLLMNoEndpoint, "/spec",
			"the agent has neither spec.llm nor an endpoint: it can be registered but nothing can run it")
	}
}

func (n *Node) kind() Kind {
	if n == nil {
		return Null
	}
	return n.Kind
}

func (n *Node) items() []*Node {
	if n == nil || n.Kind != Array {
		return nil
	}
	return n.Items
}
