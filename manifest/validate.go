package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Result is what validating one document found.
type Result struct {
	Document *Document
	// Schema is the schema document that judged it, "" when none applies.
	Schema      string
	Diagnostics []Diagnostic
}

// Valid reports whether no diagnostic is an error.
func (r *Result) Valid() bool {
	for _, d := range r.Diagnostics {
		if d.Severity == SeverityError {
			return false
		}
	}
	return true
}

// Validate judges a document by the schema of its apiVersion and kind, and
// reports every problem found.
func Validate(doc *Document) *Result {
	r := &Result{Document: doc, Diagnostics: append([]Diagnostic(nil), doc.Problems...)}
	if doc.Root.Kind != Object {
		r.add(doc.Root, "", "schema", "a manifest must be a mapping, not %s", doc.Root.Kind)
		return r
	}
	apiVersion, kind := doc.APIVersion(), doc.Kind()
	r.Schema = schemaFor(apiVersion, kind)
	if r.Schema == "" {
		at := doc.Root.Get("apiVersion")
		if at == nil {
			at = doc.Root
		}
		d := r.add(at, "/apiVersion", "unsupported-version", "apiVersion %q (kind %q) is not supported", apiVersion, kind)
		d.Allowed = SupportedAPIVersions()
		return r
	}
	if err := validateSchema(r); err != nil {
		r.add(doc.Root, "", "internal", "%v", err)
	}
	r.Diagnostics = append(r.Diagnostics, check(doc)...)
	if kind == "Workflow" {
		_, ds := compileWorkflow(doc.Root)
		r.Diagnostics = append(r.Diagnostics, beyondSchema(doc.Root, r.Diagnostics, ds)...)
	}
	return r
}

// beyondSchema returns the compiler's diagnostics but those that repeat
// one of the schema's: the same member's type or value, or a member the
// schema already reported missing (at the nearest object that exists, as
// schemas do).
func beyondSchema(root *Node, have []Diagnostic, ds []compileDiag) []Diagnostic {
	schemaAt := map[string]bool{}
	for _, d := range have {
		if d.Code == "schema" {
			schemaAt[d.Pointer] = true
		}
	}
	var out []Diagnostic
	for _, d := range ds {
		parent := d.Pointer
		for parent != "" {
			parent = parent[:strings.LastIndexByte(parent, '/')]
			if exists(root, parent) {
				break
			}
		}
		if d.sameAsSchema && schemaAt[d.Pointer] || d.missing && schemaAt[parent] {
			continue
		}
		out = append(out, d.Diagnostic)
	}
	return out
}

// validateSchema evaluates the document's schema, adding a diagnostic per
// failure; an error means the schema itself could not be used.
func validateSchema(r *Result) error {
	s, err := schema(r.Schema)
	if err != nil {
		return err
	}
	err = s.Validate(r.Document.Root.Value())
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		r.Diagnostics = append(r.Diagnostics, schemaDiagnostics(r.Document.Root, verr)...)
		return nil
	}
	return err
}

// SchemaValid reports whether the document passes its release's schema,
// the verdict the official OSSA schemas give; the checks beyond the schema
// (duplicate keys, step references, ...) do not count here.
func (r *Result) SchemaValid() bool {
	for _, d := range r.Diagnostics {
		if d.Severity == SeverityError && (d.Code == "schema" || d.Code == "unsupported-version" || d.Code == "internal") {
			return false
		}
	}
	return true
}

// exists reports whether the JSON pointer names a node of root.
func exists(root *Node, pointer string) bool {
	n := root
	for _, tok := range strings.Split(pointer, "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch {
		case n.kind() == Object && n.Get(tok) != nil:
			n = n.Get(tok)
		case n.kind() == Array:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Items) {
				return false
			}
			n = n.Items[i]
		default:
			return false
		}
	}
	return true
}

func (r *Result) add(n *Node, pointer, code, format string, args ...any) *Diagnostic {
	r.Diagnostics = append(r.Diagnostics, Diagnostic{Severity: SeverityError, Code: code, Pointer: pointer, Pos: n.Pos,
		Message: fmt.Sprintf(format, args...)})
	return &r.Diagnostics[len(r.Diagnostics)-1]
}
