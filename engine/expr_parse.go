package engine

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
		left = &exprBinary{op: op.text, pos: op.pos, level: prec, l: left, r: right}
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
		pos   int
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
