package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// parseJSON reads one JSON value into Nodes, members in the order written
// (a repeated key keeps its last value, as encoding/json does). The nodes
// have no positions: this reads definitions stored as JSON, not files.
func parseJSON(data []byte) (*Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readJSON(dec)
	if errors.Is(err, io.EOF) {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return n, nil
}

func readJSON(dec *json.Decoder) (*Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			n := &Node{Kind: Array, Items: []*Node{}}
			for dec.More() {
				it, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				n.Items = append(n.Items, it)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &Node{Kind: Object, Fields: []Field{}}
		index := map[string]int{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := k.(string)
			v, err := readJSON(dec)
			if err != nil {
				return nil, err
			}
			if i, dup := index[key]; dup {
				n.Fields[i].Value = v
				continue
			}
			index[key] = len(n.Fields)
			n.Fields = append(n.Fields, Field{Key: key, Value: v})
		}
		_, err := dec.Token()
		return n, err
	case string:
		return &Node{Kind: String, Text: t}, nil
	case json.Number:
		return &Node{Kind: Number, Text: t.String()}, nil
	case bool:
		return &Node{Kind: Bool, Text: fmt.Sprint(t)}, nil
	}
	return &Node{Kind: Null}, nil
}
