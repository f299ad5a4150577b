package jsondepth

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestExceeds(t *testing.T) {
	for _, tt := range []struct {
		data   string
		limit  int
		offset int
		over   bool
	}{
		{`{}`, 1, 0, false},
		{`{}`, 0, 0, true},
		{`{"a":[1,{"b":[]}]}`, 4, 0, false},
		{`{"a":[1,{"b":[]}]}`, 3, 13, true},
		{`["[[[[", "\"[[[["]`, 1, 0, false},
		{`[[],[],[]]`, 2, 0, false},
		{`[[[]]]`, 2, 2, true},
		{`"\\"[[`, 1, 5, true},
		{`not json at all`, 0, 0, false},
		{strings.Repeat("[", 100), 64, 64, true},
	} {
		offset, over := Exceeds([]byte(tt.data), tt.limit)
		if offset != tt.offset || over != tt.over {
			t.Errorf("Exceeds(%q, %d) = %d, %v; want %d, %v", tt.data, tt.limit, offset, over, tt.offset, tt.over)
		}
	}
}

// depth is how deeply valid JSON nests, as encoding/json's tokens say.
func depth(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	d, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			t.Fatalf("token of valid JSON %q: %v", data, err)
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			d++
			deepest = max(deepest, d)
		case json.Delim(']'), json.Delim('}'):
			d--
		}
	}
}

// FuzzExceeds checks the scanner against encoding/json on every valid JSON
// text: it is over a limit exactly when the text nests deeper than that.
func FuzzExceeds(f *testing.F) {
	for _, seed := range []string{`{}`, `[1,[2,[3]]]`, `{"a":"[{","b":{"c":[]}}`, `"\\\""`, `[[[[]]]]`, `{"\u005b":[]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			Exceeds(data, 3) // must not panic
			return
		}
		d := depth(t, data)
		for _, limit := range []int{0, 1, 2, 3, 8, 64} {
			offset, over := Exceeds(data, limit)
			if over != (d > limit) {
				t.Fatalf("Exceeds(%q, %d) = %v, but it nests %d deep", data, limit, over, d)
			}
			if over && data[offset] != '[' && data[offset] != '{' {
				t.Fatalf("Exceeds(%q, %d) points at %q, not a bracket", data, limit, data[offset])
			}
		}
	})
}
