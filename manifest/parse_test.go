package manifest

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParsePositionsAndValues(t *testing.T) {
	src := "apiVersion: ossa/v0.4.6\nkind: Agent\nmetadata:\n  name: a\n  created: 2024-01-02\nspec:\n  n: 0x1F\n  f: 1.50\n  ok: true\n  none: ~\n  list:\n    - x\n    - {y: 2}\n"
	docs, err := Parse("a.yaml", []byte(src))
	if err != nil || len(docs) != 1 {
		t.Fatalf("Parse: %v %v", docs, err)
	}
	root := docs[0].Root
	b, _ := root.MarshalJSON()
	want := `{"apiVersion":"ossa/v0.4.6","kind":"Agent","metadata":{"name":"a","created":"2024-01-02"},"spec":{"n":31,"f":1.5,"ok":true,"none":null,"list":["x",{"y":2}]}}`
	if string(b) != want {
		t.Fatalf("JSON:\n got %s\nwant %s", b, want)
	}
	for ptr, pos := range map[string]Pos{
		"/metadata/name":     {4, 9},
		"/spec/list/1/y":     {13, 11},
		"/spec/missing/deep": {7, 3}, // the deepest existing node: spec's mapping, which starts at its first key
	} {
		if got := root.At(ptr).Pos; got != pos {
			t.Errorf("At(%s).Pos = %v, want %v", ptr, got, pos)
		}
	}
	if docs[0].APIVersion() != "ossa/v0.4.6" || docs[0].Kind() != "Agent" {
		t.Fatalf("apiVersion/kind: %q %q", docs[0].APIVersion(), docs[0].Kind())
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
}

func TestParseMultiDocumentAndJSON(t *testing.T) {
	docs, err := Parse("m.yaml", []byte("kind: A\n---\n---\nkind: B\n...\n"))
	if err != nil || len(docs) != 2 || docs[0].Kind() != "A" || docs[1].Kind() != "B" || docs[1].Index != 2 {
		t.Fatalf("multi-document: %+v %v", docs, err)
	}
	docs, err = Parse("m.json", []byte(`{"kind": "Agent", "spec": {"tools": [{"name": "x"}]}}`))
	if err != nil || len(docs) != 1 || docs[0].Root.At("/spec/tools/0/name").Pos.Column != 47 {
		t.Fatalf("JSON: %+v %v", docs, err)
	}
}

func TestParseAliasesAndMerge(t *testing.T) {
	src := "base: &b\n  a: 1\n  b: 2\nuse:\n  <<: *b\n  b: 3\nref: *b\n"
	docs, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := docs[0].Root.MarshalJSON()
	if want := `{"base":{"a":1,"b":2},"use":{"b":3,"a":1},"ref":{"a":1,"b":2}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

func TestParseDuplicateKey(t *testing.T) {
	docs, err := Parse("d.yaml", []byte("kind: Agent\nmetadata:\n  name: a\n  name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := docs[0].Problems
	if len(p) != 1 || p[0].Code != "duplicate-key" || p[0].Pos != (Pos{4, 3}) || !strings.Contains(p[0].Message, "first at 3:3") {
		t.Fatalf("problems = %+v", p)
	}
	if docs[0].Root.At("/metadata/name").Str() != "b" {
		t.Fatal("the last duplicate should win")
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("bad.yaml", []byte("a: 1\nb: [1, 2\nc: 3\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Pos.Line == 0 || !strings.HasPrefix(pe.Error(), "bad.yaml:") {
		t.Fatalf("error = %v", err)
	}
	// Billion laughs: aliases that expand without bound are refused.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]\n")
	}
	if _, err := Parse("laughs.yaml", []byte(b.String())); err == nil {
		t.Fatal("an exploding document was accepted")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
