package agenttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
)

// maxQuote bounds how much of a value a reason quotes.
const maxQuote = 160

// decodeOutput reads an agent's output as a JSON value, numbers kept as
// json.Number. An output that is not one JSON value is its text: agents
// that answer in prose are judged on the words they wrote.
func decodeOutput(raw json.RawMessage) any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return string(raw)
	}
	if _, err := dec.Token(); err == nil {
		return string(raw) // trailing tokens: not one value
	}
	return v
}

// normalize turns a Go value into the JSON model (map[string]any, []any,
// string, json.Number, bool, nil), so that values written by hand compare
// as parsed ones do.
func normalize(v any) (any, error) {
	switch v.(type) {
	case nil, string, json.Number, bool:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// jsonType names a value's JSON type.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// text is a value's text form: a string is itself, anything else its
// compact JSON encoding (object members sorted by key, <, > and & as
// written).
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// quote renders a value for a reason: JSON, shortened when long.
func quote(v any) string {
	s := text(v)
	if _, ok := v.(string); ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	return platform.Truncate(s, maxQuote)
}

// decimal is a JSON number in a canonical form: ±digits × 10^exp, digits
// without leading or trailing zeros ("" for zero), so that equal numbers
// have equal forms.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

var numberSyntax = regexp.MustCompile(`^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$`)

// parseDecimal reads a JSON number literal exactly.
func parseDecimal(s string) (decimal, bool) {
	m := numberSyntax.FindStringSubmatch(s)
	if m == nil {
		return decimal{}, false
	}
	var exp int64
	if m[4] != "" {
		e, err := strconv.ParseInt(m[4], 10, 32)
		if err != nil {
			return decimal{}, false
		}
		exp = e
	}
	digits := m[2] + m[3]
	exp -= int64(len(m[3]))
	digits = strings.TrimLeft(digits, "0")
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	if trimmed == "" {
		return decimal{}, true // zero, whatever its sign
	}
	return decimal{neg: m[1] == "-", digits: trimmed, exp: exp}, true
}

// numbersEqual compares two JSON numbers by value: 42, 42.0 and 4.2e1
// are equal, and no precision is lost to floating point.
func numbersEqual(a, b json.Number) bool {
	x, okx := parseDecimal(string(a))
	y, oky := parseDecimal(string(b))
	if !okx || !oky {
		return a == b
	}
	return x == y
}

// equal is deep JSON equality, numbers compared as numbers.
func equal(a, b any) bool { return diff("", a, b) == "" }

// diff returns "" when got equals want, else a sentence saying where and
// how they first differ, naming places from label ("output.items[1]").
func diff(label string, got, want any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s is missing, want %s", member(label, k), quote(w[k]))
			}
			if d := diff(member(label, k), gv, w[k]); d != "" {
				return d
			}
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s is %s, want no such member", member(label, k), quote(g[k]))
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s has %d elements, want %d", label, len(g), len(w))
		}
		for i := range w {
			if d := diff(index(label, i), g[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	case json.Number:
		if g, ok := got.(json.Number); ok && numbersEqual(g, w) {
			return ""
		}
	default:
		if got == want {
			return ""
		}
	}
	if jsonType(got) != jsonType(want) {
		return fmt.Sprintf("%s is %s %s, want %s %s", label, article(jsonType(got)), quote(got), article(jsonType(want)), quote(want))
	}
	return fmt.Sprintf("%s is %s, want %s", label, quote(got), quote(want))
}

// subset returns "" when every member of want is in got with a matching
// value (objects by this rule again, other values by equality), else why
// not.
func subset(label string, got, want map[string]any) string {
	for _, k := range sortedKeys(want) {
		gv, ok := got[k]
		if !ok {
			return fmt.Sprintf("%s is missing, want %s", member(label, k), quote(want[k]))
		}
		wm, wok := want[k].(map[string]any)
		gm, gok := gv.(map[string]any)
		if wok && gok {
			if d := subset(member(label, k), gm, wm); d != "" {
				return d
			}
			continue
		}
		if d := diff(member(label, k), gv, want[k]); d != "" {
			return d
		}
	}
	return ""
}

func article(typ string) string {
	if typ == "array" || typ == "object" {
		return "an " + typ
	}
	return "a " + typ
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// member names an object member below label: label.key, or label["key"]
// when the key is not an identifier.
func member(label, key string) string {
	if identifier.MatchString(key) {
		return label + "." + key
	}
	b, _ := json.Marshal(key)
	return label + "[" + string(b) + "]"
}

func index(label string, i int) string { return label + "[" + strconv.Itoa(i) + "]" }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
