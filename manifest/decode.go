package manifest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/ossa-platform/platform"
)

// decoder fills a typed view from Nodes, strictly: a member whose value
// has the wrong JSON type is reported (and left zero) rather than ignored,
// and member names match exactly, as JSON Schema reads them (encoding/json
// would also match "Depends_On"). It is what the workflow compiler reads
// a definition with, so that the engine runs exactly what was checked.
type decoder struct {
	report func(code, ptr, format string, args ...any)
}

var (
	rawType  = reflect.TypeFor[json.RawMessage]()
	stepType = reflect.TypeFor[Step]()
)

// decode fills v (a pointer's target, settable) from n; code is the
// diagnostic code of a type problem, which becomes CodeInvalidStep inside
// a step.
func (d *decoder) decode(n *Node, v reflect.Value, ptr, code string) {
	if n == nil || n.Kind == Null {
		return // null leaves the zero value, as encoding/json does
	}
	t := v.Type()
	if t == rawType {
		b, _ := n.MarshalJSON()
		v.SetBytes(b)
		return
	}
	if t == stepType {
		code = CodeInvalidStep
	}
	want := ""
	switch t.Kind() {
	case reflect.String:
		if n.Kind == String {
			v.SetString(n.Text)
			return
		}
		want = "a string"
	case reflect.Bool:
		if n.Kind == Bool {
			v.SetBool(n.Text == "true")
			return
		}
		want = "a boolean"
	case reflect.Int:
		if n.Kind == Number {
			if i, err := strconv.ParseInt(n.Text, 10, 64); err == nil && int64(int(i)) == i {
				v.SetInt(i)
				return
			}
		}
		want = "an integer"
	case reflect.Float64:
		if f, ok := number(n); ok {
			v.SetFloat(f)
			return
		} else if n.Kind == Number {
			d.report(code, ptr, "the number %s is out of range", n.Text)
			return
		}
		want = "a number"
	case reflect.Interface:
		if x, ok := d.plain(n, ptr, code); ok {
			v.Set(reflect.ValueOf(&x).Elem())
		}
		return
	case reflect.Pointer:
		if n.Kind == Object {
			p := reflect.New(t.Elem())
			d.decode(n, p.Elem(), ptr, code)
			v.Set(p)
			return
		}
		want = "an object"
	case reflect.Slice:
		if n.Kind == Array {
			s := reflect.MakeSlice(t, len(n.Items), len(n.Items))
			for i, it := range n.Items {
				d.decode(it, s.Index(i), ptr+"/"+strconv.Itoa(i), code)
			}
			v.Set(s)
			return
		}
		want = "an array"
	case reflect.Map:
		if n.Kind == Object {
			m := reflect.MakeMapWithSize(t, len(n.Fields))
			for _, f := range n.Fields {
				e := reflect.New(t.Elem()).Elem()
				d.decode(f.Value, e, ptr+"/"+platform.EscapePointer(f.Key), code)
				m.SetMapIndex(reflect.ValueOf(f.Key), e)
			}
			v.Set(m)
			return
		}
		want = "an object"
	case reflect.Struct:
		if n.Kind == Object {
			for _, f := range n.Fields {
				if i, ok := fieldByTag(t, f.Key); ok {
					d.decode(f.Value, v.Field(i), ptr+"/"+platform.EscapePointer(f.Key), code)
				}
			}
			return
		}
		want = "an object"
	default:
		panic(fmt.Sprintf("manifest: cannot decode into %s", t))
	}
	d.report(code, ptr, "must be %s, not %s", want, article(n.Kind))
}

// plain is n as encoding/json decodes into an any: map[string]any, []any,
// float64, string, bool or nil; a number out of float64's range is
// reported.
func (d *decoder) plain(n *Node, ptr, code string) (any, bool) {
	switch n.Kind {
	case Bool:
		return n.Text == "true", true
	case Number:
		f, ok := number(n)
		if !ok {
			d.report(code, ptr, "the number %s is out of range", n.Text)
		}
		return f, ok
	case String:
		return n.Text, true
	case Array:
		out := make([]any, 0, len(n.Items))
		for i, it := range n.Items {
			x, ok := d.plain(it, ptr+"/"+strconv.Itoa(i), code)
			if !ok {
				return nil, false
			}
			out = append(out, x)
		}
		return out, true
	case Object:
		out := make(map[string]any, len(n.Fields))
		for _, f := range n.Fields {
			x, ok := d.plain(f.Value, ptr+"/"+platform.EscapePointer(f.Key), code)
			if !ok {
				return nil, false
			}
			out[f.Key] = x
		}
		return out, true
	}
	return nil, true
}

func number(n *Node) (float64, bool) {
	if n.Kind != Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Text, 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// fieldByTag finds the field of struct type t whose json name is key.
func fieldByTag(t reflect.Type, key string) (int, bool) {
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == key && t.Field(i).IsExported() {
			return i, true
		}
	}
	return 0, false
}

func article(k Kind) string {
	switch k {
	case Array, Object:
		return "an " + k.String()
	case Null:
		return "null"
	}
	return "a " + k.String()
}
