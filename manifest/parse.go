package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Document is one manifest: a YAML document of a file (a multi-document
// file holds several) or a JSON file.
type Document struct {
	File  string
	Index int // the document's place in its file, from 0
	Root  *Node
	// Problems found while reading, such as duplicate keys; the document is
	// still usable.
	Problems []Diagnostic
}

// APIVersion returns the document's apiVersion, or "".
func (d *Document) APIVersion() string { return d.Root.Get("apiVersion").Str() }

// Kind returns the document's kind, or "".
func (d *Document) Kind() string { return d.Root.Get("kind").Str() }

// ParseError is a file that cannot be read as YAML or JSON.
type ParseError struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Pos.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%s: %s", e.File, e.Pos, e.Msg)
}

// MaxAliasExpansion bounds the nodes aliases may expand to, against
// "billion laughs" documents.
const MaxAliasExpansion = 1 << 20

// MaxDepth bounds how deeply mappings and sequences may nest in a document.
// OSSA manifests nest a few dozen levels at most (a workflow's loops and
// branches add three each); a deeper document is refused as it is read.
const MaxDepth = 64

// Parse reads every document of a YAML (or JSON) file. Empty documents are
// skipped. Values follow YAML 1.2's core schema as the OSSA tools read it:
// timestamps stay strings, aliases and << merge keys are resolved.
func Parse(file string, data []byte) ([]*Document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	src := &source{data: data}
	var docs []*Document
	for index := 0; ; index++ {
		var y yaml.Node
		err := dec.Decode(&y)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, parseError(file, err)
		}
		c := &converter{file: file, src: src}
		root := c.convert(&y, 0)
		if c.err != nil {
			return docs, c.err
		}
		if root == nil || (root.Kind == Null && len(c.problems) == 0) {
			continue // an empty document, as between two "---"
		}
		docs = append(docs, &Document{File: file, Index: index, Root: root, Problems: c.problems})
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseError(file string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "exceeded max depth") {
		// The YAML parser's own bound, far beyond MaxDepth: say ours.
		return &ParseError{File: file, Msg: fmt.Sprintf("mappings and sequences nest deeper than %d levels", MaxDepth)}
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ParseError{File: file, Pos: Pos{Line: line, Column: 1}, Msg: m[2]}
	}
	return &ParseError{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

type converter struct {
	file     string
	src      *source
	problems []Diagnostic
	expanded int
	err      error
}

// convert turns a YAML node into a Node; nil for an empty document.
func (c *converter) convert(y *yaml.Node, depth int) *Node {
	if c.err != nil {
		return nil
	}
	c.expanded++
	switch {
	case c.expanded > MaxAliasExpansion:
		c.err = &ParseError{File: c.file, Pos: pos(y), Msg: fmt.Sprintf("document too large: more than %d values after expanding aliases", MaxAliasExpansion)}
		return nil
	case depth > MaxDepth && (y.Kind == yaml.MappingNode || y.Kind == yaml.SequenceNode):
		c.err = &ParseError{File: c.file, Pos: pos(y), Msg: fmt.Sprintf("mappings and sequences nest deeper than %d levels", MaxDepth)}
		return nil
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return nil
		}
		return c.convert(y.Content[0], depth+1)
	case yaml.AliasNode:
		n := c.convert(y.Alias, depth+1)
		if n != nil {
			cp := *n
			cp.Pos = pos(y)
			return &cp
		}
		return nil
	case yaml.SequenceNode:
		n := &Node{Kind: Array, Pos: pos(y), Items: []*Node{}}
		for _, it := range y.Content {
			n.Items = append(n.Items, c.convert(it, depth+1))
		}
		return n
	case yaml.MappingNode:
		return c.mapping(y, depth)
	case yaml.ScalarNode:
		n := scalar(y)
		if n.Kind == String {
			n.src = c.src
		}
		return n
	}
	return &Node{Kind: Null, Pos: pos(y)}
}

// mapping converts a mapping, applying << merge keys (explicit keys win
// over merged ones) and reporting duplicate keys.
func (c *converter) mapping(y *yaml.Node, depth int) *Node {
	n := &Node{Kind: Object, Pos: pos(y), Fields: []Field{}}
	index := map[string]int{}
	var merged []Field
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, c.mergeSources(v, depth)...)
			continue
		}
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			key = c.convert(k, depth+1).jsonText()
		}
		if first, dup := index[key]; dup {
			c.problems = append(c.problems, Diagnostic{
				Severity: SeverityError, Code: "duplicate-key", Pos: pos(k),
				Pointer: "", Message: fmt.Sprintf("duplicate key %q (first at %s)", key, n.Fields[first].KeyPos),
			})
			n.Fields[first].Value = c.convert(v, depth+1) // the last one wins, as in JavaScript
			continue
		}
		index[key] = len(n.Fields)
		n.Fields = append(n.Fields, Field{Key: key, KeyPos: pos(k), Value: c.convert(v, depth+1)})
	}
	for _, f := range merged {
		if _, ok := index[f.Key]; !ok {
			index[f.Key] = len(n.Fields)
			n.Fields = append(n.Fields, f)
		}
	}
	return n
}

// mergeSources returns the members a << value brings: one mapping or a
// list of them, earlier ones winning.
func (c *converter) mergeSources(v *yaml.Node, depth int) []Field {
	var out []Field
	seen := map[string]bool{}
	add := func(m *Node) {
		if m == nil || m.Kind != Object {
			c.problems = append(c.problems, Diagnostic{Severity: SeverityError, Code: "bad-merge", Pos: pos(v),
				Message: "the value of << must be a mapping or a list of mappings"})
			return
		}
		for _, f := range m.Fields {
			if !seen[f.Key] {
				seen[f.Key] = true
				out = append(out, f)
			}
		}
	}
	if v.Kind == yaml.SequenceNode {
		for _, it := range v.Content {
			add(c.convert(it, depth+1))
		}
	} else {
		add(c.convert(v, depth+1))
	}
	return out
}

func (n *Node) jsonText() string {
	b, _ := n.MarshalJSON()
	return string(b)
}

// scalar resolves a scalar by its YAML tag.
func scalar(y *yaml.Node) *Node {
	n := &Node{Pos: pos(y), Text: y.Value}
	switch y.ShortTag() {
	case "!!null":
		n.Kind, n.Text = Null, ""
	case "!!bool":
		n.Kind = Bool
		n.Text = strconv.FormatBool(strings.EqualFold(y.Value, "true"))
	case "!!int":
		n.Kind = Number
		if i, err := strconv.ParseInt(strings.ReplaceAll(y.Value, "_", ""), 0, 64); err == nil {
			n.Text = strconv.FormatInt(i, 10)
		} else if f, ok := parseFloat(y.Value); ok {
			n.Text = f
		} else {
			n.Kind = String
		}
	case "!!float":
		n.Kind = Number
		if f, ok := parseFloat(y.Value); ok {
			n.Text = f
		} else {
			n.Kind = String // .inf and .nan have no JSON form
		}
	default: // !!str, !!timestamp, !!binary and custom tags stay text
		n.Kind = String
	}
	return n
}

func parseFloat(s string) (string, bool) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

func pos(y *yaml.Node) Pos { return Pos{Line: y.Line, Column: y.Column} }
