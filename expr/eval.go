package expr

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Evaluating parsed expressions.

func (n *litNode) eval(*evaluator) (any, error) { return n.v, nil }

func (n *identNode) eval(ev *evaluator) (any, error) { return ev.scope[n.name], nil }

func (n *memberNode) eval(ev *evaluator) (any, error) {
	x, err := n.x.eval(ev)
	if m, ok := x.(map[string]any); ok && err == nil {
		return m[n.name], nil
	}
	return nil, err
}

func (n *indexNode) eval(ev *evaluator) (any, error) {
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

func (n *notNode) eval(ev *evaluator) (any, error) {
	x, err := n.x.eval(ev)
	return !Truthy(x), err
}

func (n *binaryNode) eval(ev *evaluator) (any, error) {
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
	var eq bool
	c, ok := 0, false
	if n.op == "==" || n.op == "!=" {
		eq = ev.equal(l, r)
	} else {
		c, ok = ev.compare(l, r)
	}
	switch {
	case ev.budget < 0:
		return nil, &Error{Pos: n.pos, Msg: ErrCost.Error(), err: ErrCost}
	case n.op == "==":
		return eq, nil
	case n.op == "!=":
		return !eq, nil
	case !ok:
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

// compare orders two numbers or two strings; other pairs have no order.
func (ev *evaluator) compare(a, b any) (int, bool) {
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
	ev.spend(min(len(x), len(y)))
	return strings.Compare(x, y), true
}

func (n *callNode) eval(ev *evaluator) (any, error) {
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
	v, err := n.apply(ev, args)
	if err == nil && ev.budget < 0 {
		err = ErrCost
	}
	if err != nil {
		return nil, &Error{Pos: n.pos, Msg: err.Error(), err: err}
	}
	return v, nil
}

func (n *callNode) apply(ev *evaluator, args []any) (any, error) {
	switch n.name {
	case "length":
		switch x := args[0].(type) {
		case nil:
			return 0.0, nil
		case string:
			ev.spend(len(x))
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
			return ok && ev.spend(len(h)) && strings.Contains(h, s), nil
		case []any:
			return slices.ContainsFunc(h, func(x any) bool { return ev.equal(x, args[1]) }), nil
		}
		return false, nil
	case "startsWith", "endsWith":
		s, ok := args[0].(string)
		fix, ok2 := args[1].(string)
		if !ok || !ok2 || !ev.spend(len(fix)) {
			return false, nil
		}
		if n.name == "startsWith" {
			return strings.HasPrefix(s, fix), nil
		}
		return strings.HasSuffix(s, fix), nil
	case "toJSON":
		s, err := ev.toJSON(args[0])
		if err != nil && !errors.Is(err, ErrCost) {
			err = fmt.Errorf("toJSON: %w", err)
		}
		return s, err
	case "fromJSON":
		s, ok := args[0].(string)
		if !ok || !ev.spend(4*len(s)) {
			return nil, nil
		}
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("fromJSON: %w", err)
		}
		return v, nil
	default: // default, with a null first argument
		return args[1], nil
	}
}
