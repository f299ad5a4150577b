package manifest

import (
	"fmt"
	"strings"
)

// Severity says whether a diagnostic fails validation.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem with a manifest, located by JSON pointer and
// by line and column, like a compiler's message.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	// Code is stable, for tools and for --strict: "schema", "duplicate-key",
	// "duplicate-step-id", ...
	Code    string `json:"code"`
	Pointer string `json:"pointer"`
	Pos     Pos    `json:"pos"`
	Message string `json:"message"`
	// Allowed lists the permitted values when an enum failed.
	Allowed []string `json:"allowed,omitempty"`
}

// Format renders d as "file:line:col: severity: message (pointer)",
// followed by the allowed values when there are any.
func (d Diagnostic) Format(file string) string {
	s := fmt.Sprintf("%s:%s: %s: %s", file, d.Pos, d.Severity, d.Message)
	if d.Pointer != "" {
		s += " (" + d.Pointer + ")"
	}
	if len(d.Allowed) > 0 {
		s += "; allowed: " + strings.Join(d.Allowed, ", ")
	}
	return s
}
