package agenttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/theory/jsonpath"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer renders JSON Schema failures in English.
var printer = message.NewPrinter(language.English)

// Limits on what an assertion may ask, so that a manifest cannot make
// evaluation costly.
const (
	// MaxPatternLen bounds a matches pattern, in bytes.
	MaxPatternLen = 4096
	// MaxPatternInsts bounds the compiled program of a matches pattern
	// (after repetitions expand: "a{1000}" counts 1000).
	MaxPatternInsts = 20000
	// MaxPathLen bounds a JSONPath, in bytes.
	MaxPathLen = 1024
)

// Assertion is one check of an agent's answer. Build it with Compile (Parse
// does) so that its pattern, path and schema are compiled once.
type Assertion struct {
	Type Type
	// Path, when set, is an RFC 9535 JSONPath selecting the part of the
	// output the assertion judges ("$.total", "$.items[*].sku"); a path not
	// starting with "$" is read as if "$." preceded it. Required for
	// json_path; not allowed for the latency, token, turn and tool types.
	Path string
	// Value is what the output is compared with, in the JSON model
	// (map[string]any, []any, string, json.Number, bool, nil); see
	// docs/agent-tests.md for what each type expects.
	Value any
	// HasValue tells a json_path with a null value (the selected value
	// must be null) from one without (the path must select something).
	HasValue bool
	// Not negates tool_called (none of the tools may be called) and
	// json_path (the path selects nothing, or a value other than Value).
	Not bool
	// Message is the manifest's own words for the check, kept in reports.
	Message string
	// Pointer locates the assertion in its manifest
	// ("/spec/scenarios/0/assertions/1", "/spec/scenarios/0/expected/output").
	Pointer string

	compiled bool
	path     *jsonpath.Path
	singular bool
	label    string
	re       *regexp.Regexp
	schema   *jsonschema.Schema
	tools    []string
	limit    int64
}

// fieldError is a problem with one member of an assertion.
type fieldError struct {
	member string // "value", "path", "type", "not"
	msg    string
}

func (e *fieldError) Error() string { return e.member + ": " + e.msg }

func bad(member, format string, args ...any) error {
	return &fieldError{member: member, msg: fmt.Sprintf(format, args...)}
}

// Compile checks a and compiles its path, pattern and schema; the error
// names the member at fault ("value: ..."). Evaluate compiles an
// assertion that was not, at each call.
func (a *Assertion) Compile() error {
	a.compiled = false
	v, err := normalize(a.Value)
	if err != nil {
		return bad("value", "is not a JSON value: %v", err)
	}
	a.Value = v
	if a.Value != nil {
		a.HasValue = true
	}
	if a.Not && a.Type != ToolCalled && a.Type != JSONPath {
		return bad("not", "applies to tool_called and json_path only")
	}
	a.path, a.label, a.singular = nil, "output", true
	switch a.Type {
	case MaxLatency, MaxTokens, MaxTurns, ToolCalled:
		if a.Path != "" {
			return bad("path", "does not apply to %s", a.Type)
		}
	default:
		if a.Path == "" && a.Type == JSONPath {
			return bad("path", "is required for json_path")
		}
		if a.Path != "" {
			if err := a.compilePath(); err != nil {
				return err
			}
		}
	}
	if !a.HasValue && a.Type != JSONPath {
		return bad("value", "is required for %s", a.Type)
	}
	switch a.Type {
	case Equals, Contains, NotContains, JSONPath:
	case Matches:
		s, ok := a.Value.(string)
		if !ok {
			return bad("value", "must be a regular expression (a string), not %s", article(jsonType(a.Value)))
		}
		re, err := compilePattern(s)
		if err != nil {
			return bad("value", "%v", err)
		}
		a.re = re
	case JSONSchema:
		s, err := compileSchema(a.Value)
		if err != nil {
			return bad("value", "%v", err)
		}
		a.schema = s
	case MaxLatency, MaxTokens, MaxTurns:
		n, ok := a.Value.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil || i <= 0 || i > int64(time.Duration(1<<62)/time.Millisecond) {
			return bad("value", "must be a positive integer, not %s", quote(a.Value))
		}
		a.limit = i
	case ToolCalled:
		tools, err := toolNames(a.Value)
		if err != nil {
			return err
		}
		a.tools = tools
	case "":
		return bad("type", "is required")
	default:
		return bad("type", "%q is not an assertion type", string(a.Type))
	}
	a.compiled = true
	return nil
}

func (a *Assertion) compilePath() error {
	p := a.Path
	if len(p) > MaxPathLen {
		return bad("path", "is longer than %d bytes", MaxPathLen)
	}
	if !strings.HasPrefix(p, "$") {
		if strings.HasPrefix(p, "[") {
			p = "$" + p
		} else {
			p = "$." + p
		}
	}
	jp, err := jsonpath.Parse(p)
	if err != nil {
		return bad("path", "is not a JSONPath: %s", strings.TrimPrefix(err.Error(), "jsonpath: "))
	}
	a.path = jp
	a.singular = jp.Query().Singular() != nil
	a.label = "output" + strings.TrimPrefix(p, "$")
	return nil
}

// compilePattern compiles a Go regular expression within the size limits.
func compilePattern(s string) (*regexp.Regexp, error) {
	if len(s) > MaxPatternLen {
		return nil, fmt.Errorf("the pattern is longer than %d bytes", MaxPatternLen)
	}
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("is not a regular expression: %w", err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("is not a regular expression: %w", err)
	}
	if len(prog.Inst) > MaxPatternInsts {
		return nil, fmt.Errorf("the pattern compiles to %d instructions, more than %d", len(prog.Inst), MaxPatternInsts)
	}
	return regexp.Compile(s)
}

// noLoader refuses every $ref outside the schema itself: a manifest must
// not make the platform read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("the schema may not refer to %s: only references inside it are resolved", url)
}

const inlineSchema = "urn:ossa-platform:agenttest:schema"

// compileSchema compiles an inline JSON Schema (draft 2020-12 unless its
// $schema says otherwise).
func compileSchema(v any) (*jsonschema.Schema, error) {
	switch v.(type) {
	case map[string]any, bool:
	default:
		return nil, fmt.Errorf("must be a JSON Schema (an object or a boolean), not %s", article(jsonType(v)))
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(inlineSchema, v); err != nil {
		return nil, fmt.Errorf("is not a JSON Schema: %w", err)
	}
	s, err := c.Compile(inlineSchema)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), inlineSchema, "schema")
		if metaschema := new(*jsonschema.SchemaValidationError); errors.As(err, metaschema) {
			// The first line only names the metaschema; the failures follow.
			msg = schemaFailures("schema", (*metaschema).Err)
		}
		return nil, fmt.Errorf("is not a JSON Schema: %s", msg)
	}
	return s, nil
}

func toolNames(v any) ([]string, error) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, bad("value", "must name a tool")
		}
		return []string{t}, nil
	case []any:
		if len(t) == 0 {
			return nil, bad("value", "must name at least one tool")
		}
		out := make([]string, len(t))
		for i, it := range t {
			s, ok := it.(string)
			if !ok || s == "" {
				return nil, bad("value", "element %d must be a tool name, not %s", i, quote(it))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, bad("value", "must be a tool name or a list of them, not %s", article(jsonType(v)))
}

// Evaluate judges one observation by one assertion: ok, or a reason saying
// precisely what differed ("output.total is 41.5, want 42").
func Evaluate(a Assertion, obs Observation) (ok bool, reason string) {
	if !a.compiled {
		if err := a.Compile(); err != nil {
			return false, "the assertion is invalid: " + err.Error()
		}
	}
	switch a.Type {
	case MaxLatency:
		limit := time.Duration(a.limit) * time.Millisecond
		if obs.Latency > limit {
			return false, fmt.Sprintf("latency is %s, want at most %d ms", ms(obs.Latency), a.limit)
		}
		return true, ""
	case MaxTokens:
		return atMost("tokens", int64(obs.Tokens), a.limit)
	case MaxTurns:
		return atMost("turns", int64(obs.Turns), a.limit)
	case ToolCalled:
		return toolCalled(a, obs.ToolsCalled)
	}
	if obs.Err != nil {
		return false, "the agent gave no answer: " + obs.Err.Error()
	}
	if obs.Output == nil {
		return false, "the agent gave no output"
	}
	out := decodeOutput(obs.Output)
	subject, found := out, true
	if a.path != nil {
		nodes := a.path.Select(out)
		switch {
		case len(nodes) == 0:
			found = false
		case a.singular:
			subject = nodes[0]
		default:
			subject = []any(nodes)
		}
	}
	if a.Type == JSONPath {
		return jsonPathCheck(a, subject, found)
	}
	if !found {
		return false, fmt.Sprintf("%s does not exist", a.label)
	}
	switch a.Type {
	case Equals:
		if d := diff(a.label, subject, a.Value); d != "" {
			return false, d
		}
		return true, ""
	case Contains:
		return containsCheck(a.label, subject, a.Value)
	case NotContains:
		if ok, _ := containsCheck(a.label, subject, a.Value); ok {
			return false, fmt.Sprintf("%s contains %s, want it not to", a.label, quote(a.Value))
		}
		return true, ""
	case Matches:
		s := text(subject)
		if !a.re.MatchString(s) {
			return false, fmt.Sprintf("%s is %s, which does not match /%s/", a.label, quote(s), a.re)
		}
		return true, ""
	case JSONSchema:
		return schemaCheck(a, subject)
	}
	return false, fmt.Sprintf("%q is not an assertion type", string(a.Type))
}

func atMost(what string, got, limit int64) (bool, string) {
	switch {
	case got <= 0:
		return false, fmt.Sprintf("the agent reported no %s, want at most %d", what, limit)
	case got > limit:
		return false, fmt.Sprintf("%s is %d, want at most %d", what, got, limit)
	}
	return true, ""
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%s ms", trimFloat(float64(d)/float64(time.Millisecond)))
}

func trimFloat(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func toolCalled(a Assertion, called []string) (bool, string) {
	var wrong []string
	for _, t := range a.tools {
		if slices.Contains(called, t) == a.Not {
			wrong = append(wrong, t)
		}
	}
	if len(wrong) == 0 {
		return true, ""
	}
	list := "none"
	if len(called) > 0 {
		list = strings.Join(called, ", ")
	}
	verb := "was not called"
	if a.Not {
		verb = "was called, want it not to be"
	}
	if len(wrong) > 1 {
		verb = strings.Replace(strings.Replace(verb, "was", "were", 1), "it not to be", "them not to be", 1)
		return false, fmt.Sprintf("tools %s %s; called: %s", strings.Join(wrong, ", "), verb, list)
	}
	return false, fmt.Sprintf("tool %s %s; called: %s", wrong[0], verb, list)
}

func jsonPathCheck(a Assertion, subject any, found bool) (bool, string) {
	switch {
	case !a.HasValue && !a.Not:
		if !found {
			return false, fmt.Sprintf("%s does not exist", a.label)
		}
	case !a.HasValue && a.Not:
		if found {
			return false, fmt.Sprintf("%s is %s, want it not to exist", a.label, quote(subject))
		}
	case !found:
		if !a.Not {
			return false, fmt.Sprintf("%s does not exist, want %s", a.label, quote(a.Value))
		}
	case a.Not:
		if equal(subject, a.Value) {
			return false, fmt.Sprintf("%s is %s, want anything else", a.label, quote(subject))
		}
	default:
		if d := diff(a.label, subject, a.Value); d != "" {
			return false, d
		}
	}
	return true, ""
}

// containsCheck is contains: a string value is a substring of the
// subject's text; an object value a subset of an object subject; an array
// subject holds the value as an element, or every element of an array
// value; any other subject contains only a value equal to it.
func containsCheck(label string, subject, value any) (bool, string) {
	if s, ok := value.(string); ok {
		t := text(subject)
		if strings.Contains(t, s) {
			return true, ""
		}
		return false, fmt.Sprintf("%s is %s, which does not contain %s", label, quote(t), quote(s))
	}
	switch g := subject.(type) {
	case map[string]any:
		w, ok := value.(map[string]any)
		if !ok {
			break
		}
		if d := subset(label, g, w); d != "" {
			return false, d
		}
		return true, ""
	case []any:
		has := func(v any) bool {
			return slices.ContainsFunc(g, func(e any) bool { return equal(e, v) })
		}
		if w, ok := value.([]any); ok {
			for _, v := range w {
				if !has(v) {
					return false, fmt.Sprintf("%s has no element %s", label, quote(v))
				}
			}
			return true, ""
		}
		if has(value) {
			return true, ""
		}
		return false, fmt.Sprintf("%s has no element %s", label, quote(value))
	}
	if equal(subject, value) {
		return true, "" // a value contains itself
	}
	return false, fmt.Sprintf("%s is %s %s, which cannot contain %s %s", label, article(jsonType(subject)), quote(subject),
		article(jsonType(value)), quote(value))
}

func schemaCheck(a Assertion, subject any) (bool, string) {
	err := a.schema.Validate(subject)
	if err == nil {
		return true, ""
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return false, fmt.Sprintf("%s cannot be validated: %v", a.label, err)
	}
	return false, "the schema rejects " + schemaFailures(a.label, verr)
}

// schemaFailures lists the leaf failures of a validation error, each
// located below label.
func schemaFailures(label string, err error) string {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	var msgs []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := label
		for _, tok := range e.InstanceLocation {
			at = pathStep(at, tok)
		}
		msgs = append(msgs, at+": "+e.ErrorKind.LocalizedString(printer))
	}
	walk(verr)
	return strings.Join(msgs, "; ")
}

// pathStep appends one instance-location token: an index when the token
// is a number, a member otherwise.
func pathStep(label, tok string) string {
	if tok != "" && strings.Trim(tok, "0123456789") == "" && (tok == "0" || tok[0] != '0') {
		return label + "[" + tok + "]"
	}
	return member(label, tok)
}
