package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The bounds on what one expression may cost, so that a hostile manifest
// or step output can neither exhaust the stack nor memory.
const (
	// MaxLen is the longest expression, in bytes, between ${{ and }}.
	MaxLen = 4096
	// MaxDepth is how deeply parentheses, '!', brackets and function
	// arguments may nest.
	MaxDepth = 64
	// MaxCost bounds the work of one Eval, Render or Condition call.
	// Each byte that toJSON or interpolation writes, each byte that length,
	// contains, startsWith, endsWith or an ordering reads, and each value
	// that == or contains compares costs one; each byte fromJSON decodes
	// costs four, decoding being the dearest of these.
	MaxCost = 16 << 20
)

// ErrCost is why an evaluation stopped when it needed more work than its
// budget allowed; the *Error of such an evaluation wraps it.
var ErrCost = fmt.Errorf("the expression does more than the %d units of work allowed", MaxCost)

// Error is a syntax or evaluation error in an expression.
type Error struct {
	Pos int    // byte offset in Src
	Msg string // what is wrong, lowercase
	Src string // the expression, or the whole string holding the template
	err error  // the cause, when it is a sentinel such as ErrCost
}

func (e *Error) Error() string {
	line, col := e.Position()
	if line > 1 {
		return fmt.Sprintf("line %d, column %d: %s", line, col, e.Msg)
	}
	return fmt.Sprintf("column %d: %s", col, e.Msg)
}

// Unwrap returns ErrCost for an evaluation that ran out of work.
func (e *Error) Unwrap() error { return e.err }

// Position returns the line and column (1-based, in characters) of Pos in
// Src.
func (e *Error) Position() (line, column int) {
	before := e.Src[:min(max(e.Pos, 0), len(e.Src))]
	return strings.Count(before, "\n") + 1, utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
}

// Expr is a parsed expression. It does not change once parsed, so one
// Expr may be evaluated by many goroutines at once.
type Expr struct {
	root node
	src  string // for the Src of evaluation errors
}

// Ref is a path an expression reads: Root is "workflow", "steps",
// "context", "loop" or another root name; Path the following names (index
// segments as decimal strings). A path stops before its first computed
// index: steps.a.output[loop.index].x reads steps.a.output and loop.index.
type Ref struct {
	Root string
	Path []string
	// Pos is the byte offset of the root's name in the source: the
	// expression, or the whole string holding its template.
	Pos int
}

// Parse parses an expression written without its ${{ }}.
func Parse(src string) (*Expr, error) { return parseAt(src, 0, len(src)) }

// Eval evaluates e against scope, whose values are the JSON data model
// (map[string]any, []any, float64, string, bool, nil; other numeric types
// and json.Number are read as numbers).
func (e *Expr) Eval(scope map[string]any) (any, error) {
	return e.eval(&evaluator{scope: scope, budget: MaxCost})
}

// EvalBudget is Eval within the work left in *budget (in the units of
// MaxCost), which it charges, so that several evaluations can share one
// budget. An evaluation that needs more fails with an error wrapping
// ErrCost.
func (e *Expr) EvalBudget(scope map[string]any, budget *int) (any, error) {
	ev := &evaluator{scope: scope, budget: *budget}
	v, err := e.eval(ev)
	*budget = max(ev.budget, 0)
	if err == nil && ev.budget < 0 {
		return nil, &Error{Msg: ErrCost.Error(), Src: e.src, err: ErrCost}
	}
	return v, err
}

func (e *Expr) eval(ev *evaluator) (any, error) {
	v, err := e.root.eval(ev)
	if xe := (*Error)(nil); errors.As(err, &xe) && xe.Src == "" {
		xe.Src = e.src
	}
	return v, err
}

// String returns e in canonical form, which parses to the same expression.
func (e *Expr) String() string {
	var b strings.Builder
	e.root.format(&b)
	return b.String()
}

// Refs lists the paths e reads, each once, in the order they appear.
func (e *Expr) Refs() []Ref {
	var refs []Ref
	seen := map[string]bool{}
	var visit func(n node)
	visit = func(n node) {
		switch c := n.(type) {
		case *litNode:
			return
		case *notNode:
			visit(c.x)
			return
		case *binaryNode:
			visit(c.l)
			visit(c.r)
			return
		case *callNode:
			for _, a := range c.args {
				visit(a)
			}
			return
		}
		// A path: walk down to its base, gathering the static segments
		// (outermost first) and the computed indexes.
		var segs []string
		var computed []node
	walk:
		for {
			switch c := n.(type) {
			case *memberNode:
				segs = append(segs, c.name)
				n = c.x
			case *indexNode:
				if seg, ok := c.segment(); ok {
					segs = append(segs, seg)
				} else {
					segs = nil // a computed index ends the static path
					computed = append(computed, c.i)
				}
				n = c.x
			default:
				break walk
			}
		}
		if id, ok := n.(*identNode); ok {
			slices.Reverse(segs)
			if key := id.name + "\x00" + strings.Join(segs, "\x00"); !seen[key] {
				seen[key] = true
				refs = append(refs, Ref{Root: id.name, Path: segs, Pos: id.pos})
			}
		} else {
			visit(n)
		}
		for i := len(computed) - 1; i >= 0; i-- {
			visit(computed[i])
		}
	}
	visit(e.root)
	return refs
}

// Truthy reports whether v counts as true: false, null, 0 (and NaN) and ""
// are false, everything else, empty lists and objects included, is true.
func Truthy(v any) bool {
	if f, ok := asNumber(v); ok {
		return f != 0 && !math.IsNaN(f)
	}
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	}
	return true
}

// Condition evaluates a step condition, with or without ${{ }}, and
// reports its truthiness. An empty condition is true. A condition is one
// expression: "${{ a }} && ${{ b }}" is an error, not a non-empty string.
func Condition(src string, scope map[string]any) (bool, error) {
	e, err := ParseCondition(src)
	if err != nil || e == nil {
		return e == nil && err == nil, err
	}
	v, err := e.Eval(scope)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

// ParseCondition parses a condition (or a loop's over), with or without
// its ${{ }} wrapper; an empty source is nil.
func ParseCondition(src string) (*Expr, error) {
	trimmed := strings.TrimSpace(src)
	if trimmed == "" {
		return nil, nil
	}
	start, end := 0, len(src)
	if strings.HasPrefix(trimmed, "${{") {
		open, closing, err := nextTemplate(src, 0)
		if err != nil {
			return nil, err
		}
		if after := closing + 2; strings.TrimSpace(src[after:]) != "" {
			return nil, &Error{Pos: after, Src: src,
				Msg: "a condition is one expression: wrap all of it in ${{ }} or none of it"}
		}
		start, end = open+3, closing
	}
	return parseAt(src, start, end)
}

// Render returns v with every ${{ }} template replaced: a string that is
// exactly one template takes the value's type (a number stays a number, an
// object stays an object); templates inside a longer string are
// interpolated as text (strings as-is, null as "", others as compact JSON).
// Maps and lists are rendered recursively, map keys are not; v is not
// modified, but values taken from scope are shared, not copied.
func Render(v any, scope map[string]any) (any, error) {
	out, err := (&evaluator{scope: scope, budget: MaxCost}).render(v)
	if pe := (*atError)(nil); errors.As(err, &pe) && pe.ptr == "" {
		return nil, pe.err
	}
	return out, err
}

// ParseTemplates parses every ${{ }} template of one string, in order;
// errors are located by their offset in s. A string without templates
// gives none.
func ParseTemplates(s string) ([]*Expr, error) {
	var out []*Expr
	for from := 0; ; {
		open, end, err := nextTemplate(s, from)
		if err != nil {
			return nil, err
		}
		if open < 0 {
			return out, nil
		}
		e, err := parseAt(s, open+3, end)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		from = end + 2
	}
}

// Templates returns every parsed expression inside v (strings in maps, in
// key order, and lists), or the first parse error, wrapped with a JSON
// pointer to where it was found.
func Templates(v any) ([]*Expr, error) {
	var out []*Expr
	var walk func(v any, ptr string) error
	walk = func(v any, ptr string) error {
		switch v := v.(type) {
		case string:
			es, err := ParseTemplates(v)
			if err != nil {
				return &atError{ptr, err}
			}
			out = append(out, es...)
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if err := walk(v[k], ptr+"/"+escapePointerToken(k)); err != nil {
					return err
				}
			}
		case []any:
			for i, x := range v {
				if err := walk(x, ptr+"/"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v, ""); err != nil {
		if pe := (*atError)(nil); errors.As(err, &pe) && pe.ptr == "" {
			return nil, pe.err
		}
		return nil, err
	}
	return out, nil
}

// atError locates an error inside a rendered value.
type atError struct {
	ptr string // JSON pointer
	err error
}

func (e *atError) Error() string { return e.ptr + ": " + e.err.Error() }
func (e *atError) Unwrap() error { return e.err }

func escapePointerToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// nextTemplate finds the first ${{ at or after from and the }} closing it,
// skipping quoted strings. open is -1 when there is none.
func nextTemplate(s string, from int) (open, end int, err error) {
	i := strings.Index(s[from:], "${{")
	if i < 0 {
		return -1, 0, nil
	}
	open = from + i
	quote, quotePos := byte(0), 0
	for j := open + 3; j < len(s); j++ {
		switch c := s[j]; {
		case quote != 0:
			switch c {
			case '\\':
				j++
			case quote:
				quote = 0
			}
		case c == '\'' || c == '"':
			quote, quotePos = c, j
		case c == '}' && j+1 < len(s) && s[j+1] == '}':
			return open, j, nil
		}
	}
	if quote != 0 {
		return 0, 0, &Error{Pos: quotePos, Msg: "unterminated string", Src: s}
	}
	return 0, 0, &Error{Pos: open, Msg: "no '}}' closes this '${{'", Src: s}
}

// evaluator carries the scope and what is left of the MaxCost budget
// through one Eval, Render or Condition call.
type evaluator struct {
	scope  map[string]any
	budget int
}

func (ev *evaluator) render(v any) (any, error) {
	switch v := v.(type) {
	case string:
		out, err := ev.renderString(v)
		if err != nil {
			return nil, &atError{"", err}
		}
		return out, nil
	case map[string]any:
		if v == nil {
			return v, nil
		}
		out := make(map[string]any, len(v))
		var firstKey string
		var firstErr *atError
		for k, x := range v {
			r, err := ev.render(x)
			if err != nil {
				// Report the error under the smallest key, whatever the
				// map's iteration order.
				if firstErr == nil || k < firstKey {
					var pe *atError
					errors.As(err, &pe)
					firstKey, firstErr = k, &atError{"/" + escapePointerToken(k) + pe.ptr, pe.err}
				}
				continue
			}
			out[k] = r
		}
		if firstErr != nil {
			return nil, firstErr
		}
		return out, nil
	case []any:
		if v == nil {
			return v, nil
		}
		out := make([]any, len(v))
		for i, x := range v {
			r, err := ev.render(x)
			if err != nil {
				var pe *atError
				errors.As(err, &pe)
				return nil, &atError{"/" + strconv.Itoa(i) + pe.ptr, pe.err}
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func (ev *evaluator) renderString(s string) (any, error) {
	var b strings.Builder
	last := 0
	for {
		open, end, err := nextTemplate(s, last)
		if err != nil {
			return nil, err
		}
		if open < 0 {
			break
		}
		e, err := parseAt(s, open+3, end)
		if err != nil {
			return nil, err
		}
		v, err := e.eval(ev)
		if err != nil {
			return nil, err
		}
		if open == 0 && end+2 == len(s) {
			return v, nil
		}
		text, err := ev.text(v)
		if err != nil {
			return nil, &Error{Pos: open, Msg: err.Error(), Src: s, err: unwrapCost(err)}
		}
		b.WriteString(s[last:open])
		b.WriteString(text)
		last = end + 2
	}
	if last == 0 {
		return s, nil
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// text is v interpolated into a string: strings as-is, null as "", others
// as compact JSON.
func (ev *evaluator) text(v any) (string, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("%v is not a JSON number", v)
		}
		s = formatJSONNumber(v)
	default:
		return ev.toJSON(v)
	}
	if !ev.spend(len(s)) {
		return "", ErrCost
	}
	return s, nil
}

// unwrapCost returns ErrCost when err is one, for the *Error wrapping it.
func unwrapCost(err error) error {
	if errors.Is(err, ErrCost) {
		return ErrCost
	}
	return nil
}

// spend charges n units of work and reports whether the budget holds.
func (ev *evaluator) spend(n int) bool {
	ev.budget -= n
	return ev.budget >= 0
}

func (ev *evaluator) toJSON(v any) (string, error) {
	if s, ok := v.(string); ok && len(s) > ev.budget {
		return "", ErrCost // its JSON is longer still
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	if !ev.spend(buf.Len()) {
		return "", ErrCost
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// asNumber reads v as a number, if it is one.
func asNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case float32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// equal is JSON equality by value: numbers numerically, lists and objects
// element by element, values of different types never. It gives up, false,
// when the budget runs out.
func (ev *evaluator) equal(a, b any) bool {
	if !ev.spend(1) {
		return false
	}
	if x, ok := asNumber(a); ok {
		y, ok := asNumber(b)
		return ok && x == y
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && len(x) == len(y) && ev.spend(len(x)) && x == y
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, ev.equal)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !ev.equal(xv, yv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// formatJSONNumber writes f as encoding/json does.
func formatJSONNumber(f float64) string {
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s = s[:n-2] + s[n-1:] // 1e-07 → 1e-7
		}
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
