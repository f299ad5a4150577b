package manifest

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Kind is the JSON type of a Node.
type Kind int

// Node kinds.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"null", "boolean", "number", "string", "array", "object"}

func (k Kind) String() string { return kindNames[k] }

// Pos is a 1-based line and column in a file.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column) }

// Node is one JSON value of a manifest, read from YAML or JSON, with where
// it stands in the file.
type Node struct {
	Kind Kind
	Pos  Pos
	// Text is the value of a String, the decimal literal of a Number, and
	// "true" or "false" for a Bool.
	Text string
	// Items are an Array's elements.
	Items []*Node
	// Fields are an Object's members in document order; keys are unique.
	Fields []Field
	// src is the file a String was read from, for PosAt.
	src *source
}

// Field is one member of an Object.
type Field struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the member named key of an Object, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Object {
		return nil
	}
	for _, f := range n.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// Str returns the text of a String node, or "" for any other node.
func (n *Node) Str() string {
	if n == nil || n.Kind != String {
		return ""
	}
	return n.Text
}

// Value returns the node as the plain Go value encoding/json would give
// (map[string]any, []any, string, json.Number, bool, nil).
func (n *Node) Value() any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case Bool:
		return n.Text == "true"
	case Number:
		return json.Number(n.Text)
	case String:
		return n.Text
	case Array:
		out := make([]any, len(n.Items))
		for i, it := range n.Items {
			out[i] = it.Value()
		}
		return out
	case Object:
		out := make(map[string]any, len(n.Fields))
		for _, f := range n.Fields {
			out[f.Key] = f.Value.Value()
		}
		return out
	}
	return nil
}

// MarshalJSON encodes the node as JSON, members in document order.
func (n *Node) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	n.writeJSON(&b)
	return []byte(b.String()), nil
}

func (n *Node) writeJSON(b *strings.Builder) {
	switch {
	case n == nil || n.Kind == Null:
		b.WriteString("null")
	case n.Kind == Bool || n.Kind == Number:
		b.WriteString(n.Text)
	case n.Kind == String:
		q, _ := json.Marshal(n.Text)
		b.Write(q)
	case n.Kind == Array:
		b.WriteByte('[')
		for i, it := range n.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.writeJSON(b)
		}
		b.WriteByte(']')
	default:
		b.WriteByte('{')
		for i, f := range n.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(f.Key)
			b.Write(q)
			b.WriteByte(':')
			f.Value.writeJSON(b)
		}
		b.WriteByte('}')
	}
}

// At returns the node a JSON pointer (RFC 6901) names, or the deepest node
// on its way when the rest does not exist, so that an error about a
// missing member points at its parent.
func (n *Node) At(pointer string) *Node {
	if pointer == "" || pointer == "/" {
		return n
	}
	cur := n
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		var next *Node
		switch cur.Kind {
		case Object:
			next = cur.Get(tok)
		case Array:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(cur.Items) {
				next = cur.Items[i]
			}
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}
