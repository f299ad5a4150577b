package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The parser: a hand-written lexer and a precedence-climbing parser over
// src[pos:end], so positions in errors are offsets in the whole string.

type tokKind uint8

const (
	tEOF    tokKind = iota
	tName           // identifier or keyword
	tMember         // .name; text is the name
	tNumber         // num
	tString         // text is the decoded value
	tPunct          // ( ) [ ] , ! < <= > >= == != && ||
)

type token struct {
	kind     tokKind
	pos, end int
	text     string
	num      float64
}

type parser struct {
	src      string
	pos, end int
	tok      token
	depth    int
}

func parseAt(src string, start, end int) (*Expr, error) {
	if end-start > MaxLen {
		return nil, &Error{Pos: start, Src: src, Msg: fmt.Sprintf("the expression is longer than %d bytes", MaxLen)}
	}
	p := &parser{src: src, pos: start, end: end}
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

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Src: p.src}
}

func (p *parser) unexpected() *Error {
	t := p.tok
	text := p.src[t.pos:t.end]
	if len(text) > 24 {
		text = strings.ToValidUTF8(text[:24], "") + "..."
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

func (p *parser) is(punct string) bool { return p.tok.kind == tPunct && p.tok.text == punct }

// enter and leave bound the nesting depth, so deep input is an error
// rather than a stack overflow.
func (p *parser) enter() error {
	if p.depth++; p.depth > MaxDepth {
		return p.errorf(p.tok.pos, "the expression nests deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func binaryPrec(t token) int {
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

func (p *parser) binary(minPrec int) (node, error) {
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
		left = &binaryNode{op: op.text, pos: op.pos, level: prec, l: left, r: right}
	}
}

func (p *parser) unary() (node, error) {
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
	return &notNode{x}, nil
}

// nested parses an expression inside brackets, parentheses or arguments.
func (p *parser) nested() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.binary(1)
}

func (p *parser) expect(punct string) error {
	if !p.is(punct) {
		return p.unexpected()
	}
	return p.next()
}

func (p *parser) postfix() (node, error) {
	t := p.tok
	var x node
	switch {
	case t.kind == tNumber:
		return &litNode{t.num}, p.next()
	case t.kind == tString:
		return &litNode{t.text}, p.next()
	case t.kind == tName && t.text == "null":
		return &litNode{nil}, p.next()
	case t.kind == tName && (t.text == "true" || t.text == "false"):
		return &litNode{t.text == "true"}, p.next()
	case t.kind == tName:
		if err := p.next(); err != nil {
			return nil, err
		}
		if !p.is("(") {
			x = &identNode{name: t.text, pos: t.pos}
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
			x = &memberNode{x: x, name: p.tok.text}
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
			x = &indexNode{x: x, i: i}
		default:
			return x, nil
		}
	}
}

// funcs maps each function's lowercase name to its spelling and arity.
var funcs = map[string]struct {
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

func (p *parser) call(name token) (*callNode, error) {
	fn, ok := funcs[strings.ToLower(name.text)]
	if !ok {
		return nil, p.errorf(name.pos, "unknown function %s", name.text)
	}
	c := &callNode{pos: name.pos, name: fn.name}
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
		plural := "s"
		if fn.arity == 1 {
			plural = ""
		}
		return nil, p.errorf(name.pos, "%s takes %d argument%s, not %d", fn.name, fn.arity, plural, len(c.args))
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
func (p *parser) next() error {
	s := p.src
	for p.pos < p.end && strings.IndexByte(" \t\r\n", s[p.pos]) >= 0 {
		p.pos++
	}
	start := p.pos
	p.tok = token{kind: tEOF, pos: start, end: start}
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
		p.tok = token{kind: tName, pos: start, end: p.pos, text: s[start:p.pos]}
	case c == '.':
		if p.pos = scan(start + 1); p.pos == start+1 {
			return p.errorf(start, "expected a name after '.'")
		}
		p.tok = token{kind: tMember, pos: start, end: p.pos, text: s[start+1 : p.pos]}
	case c == '-' || isDigitByte(c):
		return p.lexNumber()
	case c == '\'' || c == '"':
		return p.lexString()
	default:
		if start+1 < p.end {
			switch two := s[start : start+2]; two {
			case "<=", ">=", "==", "!=", "&&", "||":
				p.pos += 2
				p.tok = token{kind: tPunct, pos: start, end: p.pos, text: two}
				return nil
			}
		}
		if strings.IndexByte("()[],!<>", c) >= 0 {
			p.pos++
			p.tok = token{kind: tPunct, pos: start, end: p.pos, text: s[start:p.pos]}
			return nil
		}
		r, _ := utf8.DecodeRuneInString(s[start:p.end])
		return p.errorf(start, "unexpected character %q%s", r, charHints[c])
	}
	return nil
}

// lexNumber reads a number in JSON syntax.
func (p *parser) lexNumber() error {
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
	p.tok = token{kind: tNumber, pos: start, end: i, num: f}
	return nil
}

// lexString reads a quoted string: backslash escapes as in JSON, plus \',
// and, as in GitHub Actions, the quote written twice stands for itself.
func (p *parser) lexString() error {
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
			p.tok = token{kind: tString, pos: start, end: p.pos, text: string(append(b, s[from:i]...))}
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

func (p *parser) hex4(i int) (rune, bool) {
	if i+4 > p.end {
		return 0, false
	}
	n, err := strconv.ParseUint(p.src[i:i+4], 16, 32)
	return rune(n), err == nil
}

// The syntax tree. prec orders nodes for printing: binary operators 1-4,
// '!' 5, literals 6, paths and calls 7.

type node interface {
	eval(ev *evaluator) (any, error)
	format(b *strings.Builder)
	prec() int
}

type (
	litNode   struct{ v any }
	identNode struct {
		name string
		pos  int
	}
	memberNode struct {
		x    node
		name string
	}
	indexNode  struct{ x, i node }
	notNode    struct{ x node }
	binaryNode struct {
		op    string
		pos   int
		level int
		l, r  node
	}
	callNode struct {
		pos  int
		name string
		args []node
	}
)

func (n *litNode) prec() int    { return 6 }
func (n *identNode) prec() int  { return 7 }
func (n *memberNode) prec() int { return 7 }
func (n *indexNode) prec() int  { return 7 }
func (n *notNode) prec() int    { return 5 }
func (n *binaryNode) prec() int { return n.level }
func (n *callNode) prec() int   { return 7 }

// writeOperand writes x, in parentheses when it binds looser than minPrec.
func writeOperand(b *strings.Builder, x node, minPrec int) {
	if x.prec() >= minPrec {
		x.format(b)
		return
	}
	b.WriteByte('(')
	x.format(b)
	b.WriteByte(')')
}

func (n *litNode) format(b *strings.Builder) {
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
				const hex = "0123456789abcdef"
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('\'')
	}
}

func (n *identNode) format(b *strings.Builder) { b.WriteString(n.name) }

func (n *memberNode) format(b *strings.Builder) {
	writeOperand(b, n.x, 7)
	b.WriteByte('.')
	b.WriteString(n.name)
}

func (n *indexNode) format(b *strings.Builder) {
	writeOperand(b, n.x, 7)
	b.WriteByte('[')
	n.i.format(b)
	b.WriteByte(']')
}

func (n *notNode) format(b *strings.Builder) {
	b.WriteByte('!')
	writeOperand(b, n.x, 5)
}

func (n *binaryNode) format(b *strings.Builder) {
	writeOperand(b, n.l, n.level)
	b.WriteString(" " + n.op + " ")
	writeOperand(b, n.r, n.level+1)
}

func (n *callNode) format(b *strings.Builder) {
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
func (n *indexNode) segment() (string, bool) {
	l, ok := n.i.(*litNode)
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
