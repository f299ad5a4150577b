package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusSeeds adds every manifest of the OSSA corpus, when it is there, to
// a fuzz target's seed corpus.
func corpusSeeds(f *testing.F) {
	_ = filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if data, err := os.ReadFile(path); err == nil && len(data) < 256<<10 {
				f.Add(data)
			}
		}
		return nil
	})
}

// FuzzParse: any input parses or fails with a ParseError, never panics,
// and what parses encodes to valid JSON with a position for every node.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"a: 1\n", "- [x, {y: &a z}]\n- *a\n", "<<: {a: 1}\n", "a: 1\na: 2\n", "{\"k\": [1, 2.5e3, null, true]}", "---\n---\n", "? [a]\n: b\n"} {
		f.Add([]byte(s))
	}
	corpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, d := range docs {
			b, err := d.Root.MarshalJSON()
			if err != nil || !json.Valid(b) {
				t.Fatalf("invalid JSON %q from %q", b, data)
			}
			checkPositions(t, d.Root)
		}
	})
}

func checkPositions(t *testing.T, n *Node) {
	if n.Pos.Line < 1 || n.Pos.Column < 1 {
		t.Fatalf("node without a position: %+v", n)
	}
	for _, it := range n.Items {
		checkPositions(t, it)
	}
	for _, f := range n.Fields {
		checkPositions(t, f.Value)
	}
}

// FuzzValidate: validating any parsed document never panics, every
// diagnostic has a message and a position inside the file, and a Workflow
// compiles from its JSON definition (as the engine compiles it) with the
// problems validation found.
func FuzzValidate(f *testing.F) {
	f.Add([]byte("apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata: {name: w}\nspec:\n  steps:\n    - {id: a, depends_on: [b]}\n    - {id: b, depends_on: [a]}\n"))
	files, _ := filepath.Glob("testdata/compile/*.yaml")
	for _, file := range append(files, "testdata/workflow-bad.yaml") {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	corpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		// YAML breaks lines at \n, \r\n and a lone \r (a fuzzer find).
		lines := strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") + strings.Count(string(data), "\r") -
			strings.Count(string(data), "\r\n") + 1
		for _, d := range docs {
			r := Validate(d)
			for _, diag := range r.Diagnostics {
				if diag.Message == "" || diag.Pos.Line < 1 || diag.Pos.Line > lines {
					t.Fatalf("bad diagnostic %+v for %q", diag, data)
				}
			}
			if d.Kind() == "Workflow" {
				assertDefinitionAgrees(t, d)
			}
			for _, p := range ProfileNames() {
				if _, err := Conformance(d, p); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
