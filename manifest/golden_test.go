package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiagnosticsGolden validates every document of testdata/diagnostics
// and compares the diagnostics, as `ossa validate` prints them, with
// testdata/diagnostics.golden: a change of any message, position, pointer
// or code shows in review as a change of that file. Run with -update to
// rewrite it.
func TestDiagnosticsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/diagnostics/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		docs, err := Parse(name, data)
		if err != nil {
			b.WriteString(name + ": parse: " + err.Error() + "\n")
			continue
		}
		for _, doc := range docs {
			r := Validate(doc)
			status := "valid"
			if !r.Valid() {
				status = "invalid"
			}
			b.WriteString(name + ": document " + itoa(doc.Index) + ": " + doc.APIVersion() + " " + doc.Kind() + ": " + status + "\n")
			for _, d := range r.Diagnostics {
				b.WriteString("  " + d.Format(name) + " [" + d.Code + "]\n")
			}
		}
	}
	const golden = "testdata/diagnostics.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./manifest -run TestDiagnosticsGolden -update to write it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("diagnostics differ from %s (run with -update to accept, then review the diff):\n%s", golden, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only one side has, for a failure message.
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var out []string
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
