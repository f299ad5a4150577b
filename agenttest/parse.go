package agenttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/manifest"
)

// Parse reads an AgentTest manifest, YAML or JSON, holding exactly one
// document. Every problem is reported at once, as a platform.Error of code
// EINVALID whose fields name the member by JSON pointer
// ("/spec/scenarios/2/assertions/0/type") with its line and column.
func Parse(file string, data []byte) (*Suite, error) {
	docs, err := manifest.Parse(file, data)
	var pe *manifest.ParseError
	switch {
	case errors.As(err, &pe):
		return nil, &platform.Error{Code: platform.EINVALID, Message: "the AgentTest manifest cannot be read: " + pe.Msg,
			Fields: []platform.FieldError{{Field: "", Message: pe.Msg, Line: pe.Pos.Line, Column: pe.Pos.Column}}}
	case err != nil:
		return nil, platform.Errorf(platform.EINVALID, "the AgentTest manifest cannot be read: %v", err)
	case len(docs) != 1:
		return nil, platform.Errorf(platform.EINVALID, "an AgentTest file must hold exactly one document, not %d", len(docs))
	}
	return FromDocument(docs[0])
}

// FromDocument reads a parsed AgentTest document. It judges the members it
// uses, not the whole OSSA schema: manifest.Validate does that, and would
// refuse the platform's own assertion types (json_schema, max_latency_ms,
// max_tokens, max_turns), which this package accepts.
func FromDocument(doc *manifest.Document) (*Suite, error) {
	d := &decoder{}
	for _, p := range doc.Problems {
		if p.Severity == manifest.SeverityError {
			d.p = append(d.p, platform.FieldError{Field: p.Pointer, Message: p.Message, Line: p.Pos.Line, Column: p.Pos.Column})
		}
	}
	s := d.suite(doc.Root)
	if err := d.p.Err("the AgentTest manifest is not valid"); err != nil {
		return nil, err
	}
	return s, nil
}

// decoder collects every problem found while reading a document.
type decoder struct{ p platform.Problems }

func (d *decoder) add(n *manifest.Node, ptr, format string, args ...any) {
	f := platform.FieldError{Field: ptr, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		f.Line, f.Column = n.Pos.Line, n.Pos.Column
	}
	d.p = append(d.p, f)
}

// want reports a node of the wrong kind; it returns whether n is of kind k.
func (d *decoder) want(n *manifest.Node, ptr string, k manifest.Kind) bool {
	if n.Kind == k {
		return true
	}
	d.add(n, ptr, "must be %s, not %s", article(k.String()), article(n.Kind.String()))
	return false
}

// member returns the member key of obj, reporting it when required and
// absent (at obj's position).
func (d *decoder) member(obj *manifest.Node, ptr, key string, required bool) *manifest.Node {
	v := obj.Get(key)
	if v == nil && required {
		d.add(obj, ptr+"/"+platform.EscapePointer(key), "is required")
	}
	return v
}

func (d *decoder) str(obj *manifest.Node, ptr, key string, required bool) string {
	v := d.member(obj, ptr, key, required)
	if v == nil || !d.want(v, ptr+"/"+platform.EscapePointer(key), manifest.String) {
		return ""
	}
	if required && v.Text == "" {
		d.add(v, ptr+"/"+platform.EscapePointer(key), "must not be empty")
	}
	return v.Text
}

// only reports members of obj not in known; "x-" members are extensions
// and pass.
func (d *decoder) only(obj *manifest.Node, ptr string, known ...string) {
	for _, f := range obj.Fields {
		if !contains(known, f.Key) && !strings.HasPrefix(f.Key, "x-") {
			d.add(f.Value, ptr+"/"+platform.EscapePointer(f.Key), "is not a member here; allowed: %s", strings.Join(known, ", "))
		}
	}
}

func (d *decoder) suite(root *manifest.Node) *Suite {
	s := &Suite{Config: Config{Timeout: DefaultTimeout, FailFast: true}}
	if !d.want(root, "", manifest.Object) {
		return s
	}
	s.APIVersion = d.str(root, "", "apiVersion", true)
	if kind := d.str(root, "", "kind", true); kind != "" && kind != "AgentTest" {
		d.add(root.Get("kind"), "/kind", "must be AgentTest, not %q", kind)
	}
	if md := d.member(root, "", "metadata", true); md != nil && d.want(md, "/metadata", manifest.Object) {
		s.Name = d.str(md, "/metadata", "name", true)
		s.Version = d.str(md, "/metadata", "version", false)
		s.Description = d.str(md, "/metadata", "description", false)
	}
	spec := d.member(root, "", "spec", true)
	if spec == nil || !d.want(spec, "/spec", manifest.Object) {
		return s
	}
	if t := d.member(spec, "/spec", "target", true); t != nil && d.want(t, "/spec/target", manifest.Object) {
		s.Target.Agent = d.str(t, "/spec/target", "agent", true)
		s.Target.Version = d.str(t, "/spec/target", "version", false)
	}
	if c := spec.Get("config"); c != nil && d.want(c, "/spec/config", manifest.Object) {
		d.config(c, &s.Config)
	}
	sc := d.member(spec, "/spec", "scenarios", true)
	if sc == nil || !d.want(sc, "/spec/scenarios", manifest.Array) {
		return s
	}
	seen := map[string]int{}
	for i, n := range sc.Items {
		ptr := "/spec/scenarios/" + strconv.Itoa(i)
		if !d.want(n, ptr, manifest.Object) {
			continue
		}
		scn := d.scenario(n, ptr)
		if first, dup := seen[scn.Name]; dup && scn.Name != "" {
			d.add(n.Get("name"), ptr+"/name", "%q is the name of scenario %d too: names must be unique", scn.Name, first)
		} else {
			seen[scn.Name] = i
		}
		s.Scenarios = append(s.Scenarios, scn)
	}
	return s
}

func (d *decoder) config(c *manifest.Node, cfg *Config) {
	const ptr = "/spec/config"
	if n := c.Get("timeout_seconds"); n != nil {
		if v, ok := d.positive(n, ptr+"/timeout_seconds", int64(time.Duration(1<<62)/time.Second)); ok {
			cfg.Timeout = time.Duration(v) * time.Second
		}
	}
	if n := c.Get("retries"); n != nil {
		v, ok := d.integer(n, ptr+"/retries")
		switch {
		case ok && (v < 0 || v > 100):
			d.add(n, ptr+"/retries", "must be between 0 and 100, not %d", v)
		case ok:
			cfg.Retries = int(v)
		}
	}
	for key, dst := range map[string]*bool{"parallel": &cfg.Parallel, "fail_fast": &cfg.FailFast, "record": &cfg.Record} {
		if n := c.Get(key); n != nil && d.want(n, ptr+"/"+key, manifest.Bool) {
			*dst = n.Text == "true"
		}
	}
}

// integer reads an integer Number node.
func (d *decoder) integer(n *manifest.Node, ptr string) (int64, bool) {
	if !d.want(n, ptr, manifest.Number) {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Text, 10, 64)
	if err != nil {
		d.add(n, ptr, "must be an integer, not %s", n.Text)
		return 0, false
	}
	return v, true
}

func (d *decoder) positive(n *manifest.Node, ptr string, limit int64) (int64, bool) {
	v, ok := d.integer(n, ptr)
	if ok && (v <= 0 || v > limit) {
		d.add(n, ptr, "must be a positive integer of at most %d, not %d", limit, v)
		return 0, false
	}
	return v, ok
}

func (d *decoder) scenario(n *manifest.Node, ptr string) Scenario {
	s := Scenario{Pointer: ptr}
	d.only(n, ptr, "name", "description", "input", "expected", "assertions", "mocks")
	s.Name = d.str(n, ptr, "name", true)
	s.Description = d.str(n, ptr, "description", false)
	if in := d.member(n, ptr, "input", true); in != nil && d.want(in, ptr+"/input", manifest.Object) {
		s.Input, _ = in.MarshalJSON()
	}
	if m := n.Get("mocks"); m != nil && d.want(m, ptr+"/mocks", manifest.Object) {
		s.Mocks, _ = m.MarshalJSON()
	}
	if e := n.Get("expected"); e != nil && d.want(e, ptr+"/expected", manifest.Object) {
		s.Assertions = append(s.Assertions, d.expected(e, ptr+"/expected")...)
	}
	if as := n.Get("assertions"); as != nil && d.want(as, ptr+"/assertions", manifest.Array) {
		for i, an := range as.Items {
			aptr := ptr + "/assertions/" + strconv.Itoa(i)
			if a, ok := d.assertion(an, aptr); ok {
				s.Assertions = append(s.Assertions, a)
			}
		}
	}
	return s
}

// expected turns a scenario's expected member into assertions: output is
// a contains (every member given must be in the answer), tools_called a
// tool_called, and the limits their own types.
func (d *decoder) expected(e *manifest.Node, ptr string) []Assertion {
	d.only(e, ptr, "output", "tools_called", "max_latency_ms", "max_tokens", "max_turns")
	var out []Assertion
	add := func(key string, typ Type, kind manifest.Kind) {
		n := e.Get(key)
		if n == nil || !d.want(n, ptr+"/"+key, kind) {
			return
		}
		a := Assertion{Type: typ, Value: n.Value(), HasValue: true, Pointer: ptr + "/" + key}
		if err := a.Compile(); err != nil {
			d.assertionError(n, a.Pointer, err, true)
			return
		}
		out = append(out, a)
	}
	add("output", Contains, manifest.Object)
	add("tools_called", ToolCalled, manifest.Array)
	add("max_latency_ms", MaxLatency, manifest.Number)
	add("max_tokens", MaxTokens, manifest.Number)
	add("max_turns", MaxTurns, manifest.Number)
	return out
}

func (d *decoder) assertion(n *manifest.Node, ptr string) (Assertion, bool) {
	a := Assertion{Pointer: ptr}
	if !d.want(n, ptr, manifest.Object) {
		return a, false
	}
	d.only(n, ptr, "type", "path", "value", "not", "message")
	before := len(d.p)
	typ := d.str(n, ptr, "type", true)
	a.Type = Type(typ)
	if typ != "" && !contains(typeNames(), typ) {
		d.add(n.Get("type"), ptr+"/type", "%q is not an assertion type; allowed: %s", typ, strings.Join(typeNames(), ", "))
	}
	a.Path = d.str(n, ptr, "path", false)
	a.Message = d.str(n, ptr, "message", false)
	if v := n.Get("value"); v != nil {
		a.Value, a.HasValue = v.Value(), true
	}
	if v := n.Get("not"); v != nil && d.want(v, ptr+"/not", manifest.Bool) {
		a.Not = v.Text == "true"
	}
	if len(d.p) > before {
		return a, false
	}
	if err := a.Compile(); err != nil {
		d.assertionError(n, ptr, err, false)
		return a, false
	}
	return a, true
}

// assertionError reports a Compile error at the member it names.
func (d *decoder) assertionError(n *manifest.Node, ptr string, err error, isValue bool) {
	var fe *fieldError
	if !errors.As(err, &fe) {
		d.add(n, ptr, "%v", err)
		return
	}
	if isValue { // an expected member is the value itself
		d.add(n, ptr, "%s", fe.msg)
		return
	}
	at := n.Get(fe.member)
	if at == nil {
		at = n
	}
	d.add(at, ptr+"/"+fe.member, "%s", fe.msg)
}

func typeNames() []string {
	out := make([]string, len(Types))
	for i, t := range Types {
		out[i] = string(t)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MarshalJSON encodes an assertion as a manifest writes it.
func (a Assertion) MarshalJSON() ([]byte, error) {
	m := map[string]any{"type": a.Type}
	if a.Path != "" {
		m["path"] = a.Path
	}
	if a.HasValue {
		m["value"] = a.Value
	}
	if a.Not {
		m["not"] = true
	}
	if a.Message != "" {
		m["message"] = a.Message
	}
	return json.Marshal(m)
}
