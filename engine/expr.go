package engine

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The bounds on what one expression may cost, so that a hostile manifest
// or step output can neither exhaust the stack nor memory.
const (
	// MaxExprLen is the longest expression, in bytes, between ${{ and }}.
	MaxExprLen = 4096
	// MaxExprDepth is how deeply parentheses, '!', brackets and function
	// arguments may nest.
	MaxExprDepth = 64
	// MaxExprOutput is how much text one Eval, Render or Condition call may
	// produce with toJSON and string interpolation.
	MaxExprOutput = 16 << 20
)

// ExprError is a syntax or evaluation error in an expression.
type ExprError struct {
	Pos int    // byte offset in Src
	Msg string // what is wrong, lowercase
	Src string // the expression, or the whole string holding the template
}

func (e *ExprError) Error() string {
	before := e.Src[:min(max(e.Pos, 0), len(e.Src))]
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	if line := strings.Count(before, "\n") + 1; line > 1 {
		return fmt.Sprintf("line %d, column %d: %s", line, col, e.Msg)
	}
	return fmt.Sprintf("column %d: %s", col, e.Msg)
}

// Expr is a parsed expression.
type Expr struct {
	root exprNode
	src  string // for the Src of evaluation errors
}

// Ref is a path an expression reads: Root is "workflow", "steps",
// "context", "loop" or another root name; Path the following names (index
// segments as decimal strings). A path stops before its first computed
// index: steps.a.output[loop.index].x reads steps.a.output and loop.index.
type Ref struct {
	Root string
	Path []string
}

// ParseExpr parses an expression written without its ${{ }}.
func ParseExpr(src string) (*Expr, error) { return parseExprAt(src, 0, len(src)) }

// Eval evaluates e against scope, whose values are the JSON data model
// (map[string]any, []any, float64, string, bool, nil; other numeric types
// and json.Number are read as numbers).
func (e *Expr) Eval(scope map[string]any) (any, error) {
	return e.eval(&exprEval{scope: scope, budget: MaxExprOutput})
}

func (e *Expr) eval(ev *exprEval) (any, error) {
	v, err := e.root.eval(ev)
	if xe, ok := err.(*ExprError); ok && xe.Src == "" {
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
	var visit func(n exprNode)
	visit = func(n exprNode) {
		var segs []string // outermost first
		for {
			switch c := n.(type) {
			case *exprMember:
				segs = append(segs, c.name)
				n = c.x
				continue
			case *exprIndex:
				if seg, ok := c.segment(); ok {
					segs = append(segs, seg)
				} else {
					segs = nil // a computed index ends the static path
					visit(c.i)
				}
				n = c.x
				continue
			case *exprIdent:
				slices.Reverse(segs)
				key := c.name + "\x00" + strings.Join(segs, "\x00")
				if !seen[key] {
					seen[key] = true
					refs = append(refs, Ref{Root: c.name, Path: segs})
				}
			case *exprNot:
				visit(c.x)
			case *exprBinary:
				visit(c.l)
				visit(c.r)
			case *exprCall:
				for _, a := range c.args {
					visit(a)
				}
			}
			return
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
	trimmed := strings.TrimSpace(src)
	if trimmed == "" {
		return true, nil
	}
	var e *Expr
	var err error
	if strings.HasPrefix(trimmed, "${{") {
		open, end, err := nextTemplate(src, 0)
		if err != nil {
			return false, err
		}
		if after := end + 2; strings.TrimSpace(src[after:]) != "" {
			return false, &ExprError{Pos: after, Src: src,
				Msg: "a condition is one expression: wrap all of it in ${{ }} or none of it"}
		}
		e, err = parseExprAt(src, open+3, end)
		if err != nil {
			return false, err
		}
	} else if e, err = parseExprAt(src, 0, len(src)); err != nil {
		return false, err
	}
	v, err := e.Eval(scope)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

// Render returns v with every ${{ }} template replaced: a string that is
// exactly one template takes the value's type (a number stays a number, an
// object stays an object); templates inside a longer string are
// interpolated as text (strings as-is, null as "", others as compact JSON).
// Maps and lists are rendered recursively, map keys are not; v is not
// modified, but values taken from scope are shared, not copied.
func Render(v any, scope map[string]any) (any, error) {
	out, err := (&exprEval{scope: scope, budget: MaxExprOutput}).render(v)
	if pe, ok := err.(*exprAtError); ok && pe.ptr == "" {
		return nil, pe.err
	}
	return out, err
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
			for from := 0; ; {
				open, end, err := nextTemplate(v, from)
				if err == nil && open >= 0 {
					var e *Expr
					if e, err = parseExprAt(v, open+3, end); err == nil {
						out = append(out, e)
					}
				}
				if err != nil {
					return &exprAtError{ptr, err}
				}
				if open < 0 {
					return nil
				}
				from = end + 2
			}
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
		if pe := err.(*exprAtError); pe.ptr == "" {
			return nil, pe.err
		}
		return nil, err
	}
	return out, nil
}

// exprAtError locates an error inside a rendered value.
type exprAtError struct {
	ptr string // JSON pointer
	err error
}

func (e *exprAtError) Error() string { return e.ptr + ": " + e.err.Error() }
func (e *exprAtError) Unwrap() error { return e.err }

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
			if c == '\\' {
				j++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote, quotePos = c, j
		case c == '}' && j+1 < len(s) && s[j+1] == '}':
			return open, j, nil
		}
	}
	if quote != 0 {
		return 0, 0, &ExprError{Pos: quotePos, Msg: "unterminated string", Src: s}
	}
	return 0, 0, &ExprError{Pos: open, Msg: "no '}}' closes this '${{'", Src: s}
}

// exprEval carries the scope and what is left of the output budget
// through one Eval, Render or Condition call.
type exprEval struct {
	scope  map[string]any
	budget int
}

func (ev *exprEval) render(v any) (any, error) {
	switch v := v.(type) {
	case string:
		out, err := ev.renderString(v)
		if err != nil {
			return nil, &exprAtError{"", err}
		}
		return out, nil
	case map[string]any:
		if v == nil {
			return v, nil
		}
		out := make(map[string]any, len(v))
		var firstKey string
		var firstErr *exprAtError
		for k, x := range v {
			r, err := ev.render(x)
			if err != nil {
				// Report the error under the smallest key, whatever the
				// map's iteration order.
				if firstErr == nil || k < firstKey {
					pe := err.(*exprAtError)
					firstKey, firstErr = k, &exprAtError{"/" + escapePointerToken(k) + pe.ptr, pe.err}
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
				pe := err.(*exprAtError)
				return nil, &exprAtError{"/" + strconv.Itoa(i) + pe.ptr, pe.err}
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func (ev *exprEval) renderString(s string) (any, error) {
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
		e, err := parseExprAt(s, open+3, end)
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
			return nil, &ExprError{Pos: open, Msg: err.Error(), Src: s}
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
func (ev *exprEval) text(v any) (string, error) {
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
		return "", errExprOutput
	}
	return s, nil
}

var errExprOutput = fmt.Errorf("the expression produces more than %d bytes of text", MaxExprOutput)

func (ev *exprEval) spend(n int) bool {
	ev.budget -= n
	return ev.budget >= 0
}

func (ev *exprEval) toJSON(v any) (string, error) {
	if s, ok := v.(string); ok && len(s) > ev.budget {
		return "", errExprOutput // its JSON is longer still
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	if !ev.spend(buf.Len()) {
		return "", errExprOutput
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

// jsonEqual is JSON equality by value: numbers numerically, lists and objects
// element by element, values of different types never.
func jsonEqual(a, b any) bool {
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
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, jsonEqual)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
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

// The parser: a hand-written lexer and a precedence-climbing parser over
// src[pos:end], so positions in errors are offsets in the whole string.

type exprTokKind uint8

const (
	tEOF    exprTokKind = iota
	tName               // identifier or keyword
	tMember             // .name; text is the name
	tNumber             // num
	tString             // text is the decoded value
	tPunct              // ( ) [ ] , ! < <= > >= == != && ||
)

type exprToken struct {
	kind     exprTokKind
	pos, end int
	text     string
	num      float64
}

type exprParser struct {
	src      string
	pos, end int
	tok      exprToken
	depth    int
}

func parseExprAt(src string, start, end int) (*Expr, error) {
	if end-start > MaxExprLen {
		return nil, &ExprError{Pos: start, Src: src, Msg: fmt.Sprintf("the expression is longer than %d bytes", MaxExprLen)}
	}
	p := &exprParser{src: src, pos: start, end: end}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.errorf(start, "empty expression")
	}
	n, err := p.binary(1)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpected()
	}
	return &Expr{root: n, src: src}, nil
}

func (p *exprParser) errorf(pos int, format string, args ...any) *ExprError {
	return &ExprError{Pos: pos, Msg: fmt.Sprintf(format, args...), Src: p.src}
}

func (p *exprParser) unexpected() *ExprError {
	t := p.tok
	text := p.src[t.pos:t.end]
	if len(text) > 24 {
		text = text[:24] + "..."
	}
	switch t.kind {
	case tEOF:
		return p.errorf(t.pos, "unexpected end of expression")
	case tName:
		return p.errorf(t.pos, "unexpected name %s", text)
	case tNumber:
		return p.errorf(t.pos, "unexpected number %s", text)
	case tString:
		return p.errorf(t.pos, "unexpected string %s", text)
	}
	return p.errorf(t.pos, "unexpected '%s'", text)
}

func (p *exprParser) is(punct string) bool { return p.tok.kind == tPunct && p.tok.text == punct }

// enter and leave bound the nesting depth, so deep input is an error
// rather than a stack overflow.
func (p *exprParser) enter() error {
	if p.depth++; p.depth > MaxExprDepth {
		return p.errorf(p.tok.pos, "the expression nests deeper than %d levels", MaxExprDepth)
	}
	return nil
}

func (p *exprParser) leave() { p.depth-- }

func binaryPrec(t exprToken) int {
	if t.kind == tPunct {
		switch t.text {
		case "||":
			return 1
		case "&&":
			return 2
		case "==", "!=":
			return 3
		case "<", "<=", ">", ">=":
			return 4
		}
	}
	return 0
}

func (p *exprParser) binary(minPrec int) (exprNode, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		prec := binaryPrec(p.tok)
		if prec < minPrec || prec == 0 {
			return left, nil
		}
		op := p.tok
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.binary(prec + 1)
		if err != nil {
			return nil, err
		}
		left = &exprBinary{op: op.text, level: prec, l: left, r: right}
	}
}

func (p *exprParser) unary() (exprNode, error) {
	if !p.is("!") {
		return p.postfix()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.next(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &exprNot{x}, nil
}

// nested parses an expression inside brackets, parentheses or arguments.
func (p *exprParser) nested() (exprNode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.binary(1)
}

func (p *exprParser) expect(punct string) error {
	if !p.is(punct) {
		return p.unexpected()
	}
	return p.next()
}

func (p *exprParser) postfix() (exprNode, error) {
	t := p.tok
	var x exprNode
	switch {
	case t.kind == tNumber:
		return &exprLit{t.num}, p.next()
	case t.kind == tString:
		return &exprLit{t.text}, p.next()
	case t.kind == tName && t.text == "null":
		return &exprLit{nil}, p.next()
	case t.kind == tName && (t.text == "true" || t.text == "false"):
		return &exprLit{t.text == "true"}, p.next()
	case t.kind == tName:
		if err := p.next(); err != nil {
			return nil, err
		}
		if !p.is("(") {
			x = &exprIdent{t.text}
			break
		}
		c, err := p.call(t)
		if err != nil {
			return nil, err
		}
		x = c
	case p.is("("):
		if err := p.next(); err != nil {
			return nil, err
		}
		n, err := p.nested()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		x = n
	default:
		return nil, p.unexpected()
	}
	for {
		switch {
		case p.tok.kind == tMember:
			x = &exprMember{x: x, name: p.tok.text}
			if err := p.next(); err != nil {
				return nil, err
			}
		case p.is("["):
			if err := p.next(); err != nil {
				return nil, err
			}
			i, err := p.nested()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &exprIndex{x: x, i: i}
		default:
			return x, nil
		}
	}
}

// exprFuncs maps each function's lowercase name to its spelling and arity.
var exprFuncs = map[string]struct {
	name  string
	arity int
}{
	"length":     {"length", 1},
	"contains":   {"contains", 2},
	"startswith": {"startsWith", 2},
	"endswith":   {"endsWith", 2},
	"tojson":     {"toJSON", 1},
	"fromjson":   {"fromJSON", 1},
	"default":    {"default", 2},
}

func (p *exprParser) call(name exprToken) (*exprCall, error) {
	fn, ok := exprFuncs[strings.ToLower(name.text)]
	if !ok {
		return nil, p.errorf(name.pos, "unknown function %s", name.text)
	}
	c := &exprCall{pos: name.pos, name: fn.name}
	if err := p.next(); err != nil { // (
		return nil, err
	}
	for !p.is(")") {
		if len(c.args) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		a, err := p.nested()
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, a)
	}
	if len(c.args) != fn.arity {
		return nil, p.errorf(name.pos, "%s takes %d argument%s, not %d", fn.name, fn.arity, map[bool]string{true: "s"}[fn.arity > 1], len(c.args))
	}
	return c, p.next()
}

// charHints explain the characters people reach for that the language
// lacks.
var charHints = map[byte]string{
	'=': " (equality is '==')", '&': " (and is '&&')", '|': " (or is '||')",
	'*': " (wildcards are not supported)", '$': " (${{ }} cannot appear inside an expression)",
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

// next reads the next token into p.tok.
func (p *exprParser) next() error {
	s := p.src
	for p.pos < p.end && strings.IndexByte(" \t\r\n", s[p.pos]) >= 0 {
		p.pos++
	}
	start := p.pos
	p.tok = exprToken{kind: tEOF, pos: start, end: start}
	if start >= p.end {
		return nil
	}
	scan := func(i int) int {
		for i < p.end && isNameByte(s[i]) {
			i++
		}
		return i
	}
	switch c := s[start]; {
	case isNameByte(c) && c != '-' && !isDigitByte(c):
		p.pos = scan(start)
		p.tok = exprToken{kind: tName, pos: start, end: p.pos, text: s[start:p.pos]}
	case c == '.':
		if p.pos = scan(start + 1); p.pos == start+1 {
			return p.errorf(start, "expected a name after '.'")
		}
		p.tok = exprToken{kind: tMember, pos: start, end: p.pos, text: s[start+1 : p.pos]}
	case c == '-' || isDigitByte(c):
		return p.lexNumber()
	case c == '\'' || c == '"':
		return p.lexString()
	default:
		if start+1 < p.end {
			switch two := s[start : start+2]; two {
			case "<=", ">=", "==", "!=", "&&", "||":
				p.pos += 2
				p.tok = exprToken{kind: tPunct, pos: start, end: p.pos, text: two}
				return nil
			}
		}
		if strings.IndexByte("()[],!<>", c) >= 0 {
			p.pos++
			p.tok = exprToken{kind: tPunct, pos: start, end: p.pos, text: s[start:p.pos]}
			return nil
		}
		r, _ := utf8.DecodeRuneInString(s[start:p.end])
		return p.errorf(start, "unexpected character %q%s", r, charHints[c])
	}
	return nil
}

// lexNumber reads a number in JSON syntax.
func (p *exprParser) lexNumber() error {
	s, start := p.src, p.pos
	i := start
	digits := func() bool {
		from := i
		for i < p.end && isDigitByte(s[i]) {
			i++
		}
		return i > from
	}
	if s[i] == '-' {
		i++
	}
	var ok bool
	if i < p.end && s[i] == '0' {
		i, ok = i+1, true
	} else {
		ok = digits()
	}
	if ok && i < p.end && s[i] == '.' {
		i++
		ok = digits()
	}
	if ok && i < p.end && (s[i] == 'e' || s[i] == 'E') {
		if i++; i < p.end && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ok = digits()
	}
	if !ok || i < p.end && (isNameByte(s[i]) || s[i] == '.') {
		if start+1 == i && s[start] == '-' && !ok {
			return p.errorf(start, "unexpected character '-' (there is no subtraction)")
		}
		for i < p.end && (isNameByte(s[i]) || s[i] == '.') {
			i++
		}
		return p.errorf(start, "invalid number %s", s[start:i])
	}
	f, err := strconv.ParseFloat(s[start:i], 64)
	if err != nil && math.IsInf(f, 0) {
		return p.errorf(start, "number %s is out of range", s[start:i])
	}
	p.pos = i
	p.tok = exprToken{kind: tNumber, pos: start, end: i, num: f}
	return nil
}

// lexString reads a quoted string: backslash escapes as in JSON, plus \',
// and, as in GitHub Actions, the quote written twice stands for itself.
func (p *exprParser) lexString() error {
	s, start := p.src, p.pos
	q := s[start]
	var b []byte
	from := start + 1
	for i := from; ; {
		if i >= p.end {
			return p.errorf(start, "unterminated string")
		}
		switch c := s[i]; {
		case c == q && i+1 < p.end && s[i+1] == q:
			b = append(b, s[from:i+1]...)
			i += 2
			from = i
		case c == q:
			p.pos = i + 1
			p.tok = exprToken{kind: tString, pos: start, end: p.pos, text: string(append(b, s[from:i]...))}
			return nil
		case c == '\\':
			b = append(b, s[from:i]...)
			if i+1 >= p.end {
				return p.errorf(start, "unterminated string")
			}
			e := s[i+1]
			i += 2
			switch e {
			case '\\', '\'', '"', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4(i)
				if !ok {
					return p.errorf(i-2, "invalid escape: \\u needs four hex digits")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := p.hex4(i + 2); ok && s[i] == '\\' && s[i+1] == 'u' && utf16.DecodeRune(r, r2) != utf8.RuneError {
						r = utf16.DecodeRune(r, r2)
						i += 6
					} else {
						r = utf8.RuneError // as encoding/json does
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				r, _ := utf8.DecodeRuneInString(s[i-1 : p.end])
				return p.errorf(i-2, "invalid escape \\%c", r)
			}
			from = i
		default:
			i++
		}
	}
}

func (p *exprParser) hex4(i int) (rune, bool) {
	if i+4 > p.end {
		return 0, false
	}
	n, err := strconv.ParseUint(p.src[i:i+4], 16, 32)
	return rune(n), err == nil
}

// The syntax tree. prec orders nodes for printing: binary operators 1-4,
// '!' 5, literals 6, paths and calls 7.

type exprNode interface {
	eval(ev *exprEval) (any, error)
	format(b *strings.Builder)
	prec() int
}

type (
	exprLit    struct{ v any }
	exprIdent  struct{ name string }
	exprMember struct {
		x    exprNode
		name string
	}
	exprIndex  struct{ x, i exprNode }
	exprNot    struct{ x exprNode }
	exprBinary struct {
		op    string
		level int
		l, r  exprNode
	}
	exprCall struct {
		pos  int
		name string
		args []exprNode
	}
)

func (n *exprLit) prec() int    { return 6 }
func (n *exprIdent) prec() int  { return 7 }
func (n *exprMember) prec() int { return 7 }
func (n *exprIndex) prec() int  { return 7 }
func (n *exprNot) prec() int    { return 5 }
func (n *exprBinary) prec() int { return n.level }
func (n *exprCall) prec() int   { return 7 }

// writeOperand writes x, in parentheses when it binds looser than minPrec.
func writeOperand(b *strings.Builder, x exprNode, minPrec int) {
	if x.prec() >= minPrec {
		x.format(b)
		return
	}
	b.WriteByte('(')
	x.format(b)
	b.WriteByte(')')
}

func (n *exprLit) format(b *strings.Builder) {
	switch v := n.v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case float64:
		b.WriteString(formatJSONNumber(v))
	case string:
		b.WriteByte('\'')
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case c == '\'' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				fmt.Fprintf(b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('\'')
	}
}

func (n *exprIdent) format(b *strings.Builder) { b.WriteString(n.name) }

func (n *exprMember) format(b *strings.Builder) {
	writeOperand(b, n.x, 7)
	b.WriteByte('.')
	b.WriteString(n.name)
}

func (n *exprIndex) format(b *strings.Builder) {
	writeOperand(b, n.x, 7)
	b.WriteByte('[')
	n.i.format(b)
	b.WriteByte(']')
}

func (n *exprNot) format(b *strings.Builder) {
	b.WriteByte('!')
	writeOperand(b, n.x, 5)
}

func (n *exprBinary) format(b *strings.Builder) {
	writeOperand(b, n.l, n.level)
	b.WriteString(" " + n.op + " ")
	writeOperand(b, n.r, n.level+1)
}

func (n *exprCall) format(b *strings.Builder) {
	b.WriteString(n.name)
	b.WriteByte('(')
	for i, a := range n.args {
		if i > 0 {
			b.WriteString(", ")
		}
		a.format(b)
	}
	b.WriteByte(')')
}

// segment is the index as a path segment, when it is a literal key or a
// literal whole number.
func (n *exprIndex) segment() (string, bool) {
	l, ok := n.i.(*exprLit)
	if !ok {
		return "", false
	}
	switch v := l.v.(type) {
	case string:
		return v, true
	case float64:
		if v >= 0 && v == math.Trunc(v) && v < 1<<53 {
			return strconv.FormatFloat(v, 'f', -1, 64), true
		}
	}
	return "", false
}

func (n *exprLit) eval(*exprEval) (any, error) { return n.v, nil }

func (n *exprIdent) eval(ev *exprEval) (any, error) { return ev.scope[n.name], nil }

func (n *exprMember) eval(ev *exprEval) (any, error) {
	x, err := n.x.eval(ev)
	if m, ok := x.(map[string]any); ok && err == nil {
		return m[n.name], nil
	}
	return nil, err
}

func (n *exprIndex) eval(ev *exprEval) (any, error) {
	x, err := n.x.eval(ev)
	if err != nil {
		return nil, err
	}
	i, err := n.i.eval(ev)
	if err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case map[string]any:
		if k, ok := i.(string); ok {
			return x[k], nil
		}
	case []any:
		if f, ok := asNumber(i); ok && f >= 0 && f < float64(len(x)) && f == math.Trunc(f) {
			return x[int(f)], nil
		}
	}
	return nil, nil
}

func (n *exprNot) eval(ev *exprEval) (any, error) {
	x, err := n.x.eval(ev)
	return !Truthy(x), err
}

func (n *exprBinary) eval(ev *exprEval) (any, error) {
	l, err := n.l.eval(ev)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "&&", "||":
		if Truthy(l) == (n.op == "||") {
			return n.op == "||", nil
		}
		r, err := n.r.eval(ev)
		return Truthy(r), err
	}
	r, err := n.r.eval(ev)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "==":
		return jsonEqual(l, r), nil
	case "!=":
		return !jsonEqual(l, r), nil
	}
	c, ok := jsonCompare(l, r)
	if !ok {
		return false, nil
	}
	switch n.op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	default:
		return c >= 0, nil
	}
}

// jsonCompare orders two numbers or two strings; other pairs have no order.
func jsonCompare(a, b any) (int, bool) {
	if x, ok := asNumber(a); ok {
		y, ok := asNumber(b)
		if !ok || math.IsNaN(x) || math.IsNaN(y) {
			return 0, false
		}
		return cmp.Compare(x, y), true
	}
	x, ok := a.(string)
	y, ok2 := b.(string)
	if !ok || !ok2 {
		return 0, false
	}
	return strings.Compare(x, y), true
}

func (n *exprCall) eval(ev *exprEval) (any, error) {
	args := make([]any, len(n.args))
	for i, a := range n.args {
		if i == 1 && n.name == "default" && args[0] != nil {
			return args[0], nil // the fallback is not evaluated
		}
		v, err := a.eval(ev)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	switch n.name {
	case "length":
		switch x := args[0].(type) {
		case nil:
			return 0.0, nil
		case string:
			return float64(utf8.RuneCountInString(x)), nil
		case []any:
			return float64(len(x)), nil
		case map[string]any:
			return float64(len(x)), nil
		}
		return nil, nil
	case "contains":
		switch h := args[0].(type) {
		case string:
			s, ok := args[1].(string)
			return ok && strings.Contains(h, s), nil
		case []any:
			return slices.ContainsFunc(h, func(x any) bool { return jsonEqual(x, args[1]) }), nil
		}
		return false, nil
	case "startsWith", "endsWith":
		s, ok := args[0].(string)
		fix, ok2 := args[1].(string)
		if !ok || !ok2 {
			return false, nil
		}
		if n.name == "startsWith" {
			return strings.HasPrefix(s, fix), nil
		}
		return strings.HasSuffix(s, fix), nil
	case "toJSON":
		s, err := ev.toJSON(args[0])
		if err != nil {
			msg := err.Error()
			if err != errExprOutput {
				msg = "toJSON: " + msg
			}
			return nil, &ExprError{Pos: n.pos, Msg: msg}
		}
		return s, nil
	case "fromJSON":
		s, ok := args[0].(string)
		if !ok {
			return nil, nil
		}
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, &ExprError{Pos: n.pos, Msg: "fromJSON: " + err.Error()}
		}
		return v, nil
	default: // default, with a null first argument
		return args[1], nil
	}
}
