package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// InputSchema is a workflow's spec.inputs compiled for checking the
// parameters of runs.
type InputSchema struct {
	schema *jsonschema.Schema
}

// CompileInputs compiles a workflow's inputs JSON Schema (draft 2020-12
// unless it names another with $schema; formats are asserted). A missing
// schema accepts any object.
func CompileInputs(schema json.RawMessage) (*InputSchema, error) {
	if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
		return &InputSchema{}, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("inputs schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	// A schema may not fetch anything: only this document is known.
	c.UseLoader(noLoader{})
	if err := c.AddResource("inputs.json", doc); err != nil {
		return nil, fmt.Errorf("inputs schema: %w", err)
	}
	s, err := c.Compile("inputs.json")
	if err != nil {
		return nil, fmt.Errorf("inputs schema: %w", err)
	}
	return &InputSchema{schema: s}, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("refusing to load %s: a workflow's inputs schema must be self-contained", url)
}

// Check validates parameters (a JSON document) and returns one diagnostic
// per problem, each with the JSON pointer of the failing value inside the
// parameters, in pointer order.
func (s *InputSchema) Check(params json.RawMessage) ([]Diagnostic, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(params))
	if err != nil {
		return nil, err
	}
	if s.schema == nil {
		if _, ok := v.(map[string]any); !ok {
			return []Diagnostic{{Severity: SeverityError, Code: "schema", Message: "must be an object"}}, nil
		}
		return nil, nil
	}
	err = s.schema.Validate(v)
	var verr *jsonschema.ValidationError
	if err == nil {
		return nil, nil
	}
	if !errors.As(err, &verr) {
		return nil, err
	}
	var out []Diagnostic
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		for _, c := range e.Causes {
			walk(c)
		}
		if len(e.Causes) == 0 {
			out = append(out, Diagnostic{Severity: SeverityError, Code: "schema",
				Pointer: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
		}
	}
	walk(verr)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return dedupe(out), nil
}
