package main

import (
	"os"
	"strings"
	"testing"
)

// TestConfigurationDoc keeps docs/configuration.md true to the settings:
// run with OSSA_UPDATE_DOCS=1 to rewrite its table.
func TestConfigurationDoc(t *testing.T) {
	const path = "../../docs/configuration.md"
	const begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the settings markers", path)
	}
	want := doc[:i+len(begin)] + ConfigTable() + doc[j:]
	if doc == want {
		return
	}
	if os.Getenv("OSSA_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is out of date with the settings in cmd/ossa/serve/config.go; run OSSA_UPDATE_DOCS=1 go test ./cmd/ossa -run TestConfigurationDoc", path)
}
