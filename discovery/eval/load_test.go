package eval

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ossa-platform/platform"
)

const setDir = "../testdata/eval"

// loadSet reads the set once for every test that needs it: validating
// each manifest is most of these tests' time.
var loadSet = sync.OnceValues(func() (*Set, error) { return Load(setDir) })

func TestSet(t *testing.T) {
	t.Parallel()
	set, err := loadSet()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(setDir, "agents", "*.ossa.yaml"))
	if err != nil || len(files) != len(set.Agents) {
		t.Fatalf("%d files (%v), %d agents: want one agent per file", len(files), err, len(set.Agents))
	}
	for i, file := range files {
		if name := strings.TrimSuffix(filepath.Base(file), ".ossa.yaml"); set.Agents[i].Name != name {
			t.Errorf("%s defines agent %s: name the file after its agent", file, set.Agents[i].Name)
		}
	}
	if len(set.Agents) < 45 || len(set.Queries) < 35 {
		t.Errorf("the set holds %d agents and %d queries, want at least 45 and 35", len(set.Agents), len(set.Queries))
	}
	versions := map[string]bool{}
	for _, a := range set.Agents {
		versions[a.APIVersion] = true
		if a.Description == "" || len(a.Capabilities) == 0 {
			t.Errorf("agent %s: description %q, capabilities %v; want both", a.Name, a.Description, a.Capabilities)
		}
		if a.Manifest == nil || a.Manifest.Format != "yaml" || len(a.Manifest.Body) == 0 {
			t.Errorf("agent %s does not keep its manifest", a.Name)
		}
		if a.Type == "" || a.Namespace != platform.DefaultNamespace {
			t.Errorf("agent %s: type %q namespace %q, want the registry's defaults filled", a.Name, a.Type, a.Namespace)
		}
	}
	if len(versions) < 5 {
		t.Errorf("the manifests use %d apiVersions (%v), want a mix of at least 5", len(versions), versions)
	}
	perKind := map[string]int{}
	for _, q := range set.Queries {
		perKind[q.Kind]++
	}
	for _, kind := range Kinds {
		if perKind[kind] < 5 {
			t.Errorf("%d queries of kind %q, want at least 5", perKind[kind], kind)
		}
	}
	if perKind[""] > 0 {
		t.Errorf("%d queries have no kind", perKind[""])
	}
}

// TestSetRegistryEntries pins what the platform derives from a few of the
// manifests, one per form of capabilities and type.
func TestSetRegistryEntries(t *testing.T) {
	t.Parallel()
	set, err := loadSet()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*platform.Agent{}
	for _, a := range set.Agents {
		byName[a.Name] = a
	}
	for _, tc := range []struct {
		name, apiVersion string
		typ              platform.AgentType
		caps             string
	}{
		{"invoice-line-extractor", "ossa/v0.4.6", platform.AgentWorker, "extract_line_items validate_invoice_totals pdf-text-extraction"},
		{"document-intake-orchestrator", "ossa/v0.4.6", platform.AgentOrchestrator, "document-classification agent-routing delegate"},
		{"alert-deduplicator", "ossa/v0.4.6", platform.AgentMonitor, "alert-correlation alert-deduplication on-call-paging"},
		{"sql-performance-tuner", "ossa/v0.3.3", platform.AgentWorker, "explain-plan-analysis index-advice"},
		{"address-geocoder", "@bluefly/ossa/v0.1.9", platform.AgentWorker, "geocode reverse_geocode validate_address"},
	} {
		a := byName[tc.name]
		if a == nil {
			t.Errorf("no agent %s", tc.name)
			continue
		}
		if a.APIVersion != tc.apiVersion || a.Type != tc.typ || strings.Join(a.Capabilities, " ") != tc.caps {
			t.Errorf("%s: %s %s %v, want %s %s %s", tc.name, a.APIVersion, a.Type, a.Capabilities, tc.apiVersion, tc.typ, tc.caps)
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

const agentYAML = `apiVersion: ossa/v0.4.6
kind: Agent
metadata:
  name: %s
  description: Says hello.
spec:
  role: Say hello.
  llm: {provider: openai, model: gpt-4o-mini}
  capabilities: [greet]
`

func TestLoadAgentsInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no files", map[string]string{"notes.yaml": "x: 1\n"}, "holds no *.ossa.yaml file"},
		{"schema", map[string]string{"bad.ossa.yaml": strings.Replace(agentYAML, "provider: openai", "provider: 42", 1)},
			"bad.ossa.yaml:8:19: error: got number, want string (/spec/llm/provider)"},
		{"not yaml", map[string]string{"bad.ossa.yaml": "a: [1,\n"}, "bad.ossa.yaml"},
		{"workflow", map[string]string{"wf.ossa.yaml": "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata: {name: w}\nspec: {steps: []}\n"},
			`is a "Workflow", not an Agent`},
		{"same name", map[string]string{
			"a.ossa.yaml": strings.Replace(agentYAML, "%s", "hello", 1),
			"b.ossa.yaml": strings.Replace(agentYAML, "%s", "hello", 1),
		}, `agent "hello" is already defined in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, body := range tc.files {
				writeFile(t, dir, name, strings.Replace(body, "%s", "greeter", 1))
			}
			agents, err := LoadAgents(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadAgents = %d agents, %v; want an error with %q", len(agents), err, tc.want)
			}
		})
	}
}

func TestLoadQueriesInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"no queries", "queries: []\n", "no queries"},
		{"no expect", "queries:\n  - query: find me\n", `queries.yaml:2:5: query "find me" names no expected agent`},
		{"no text", "queries:\n  - expect: a\n", "query 0 has no text"},
		{"unknown member", "queries:\n  - query: find me\n    expected: a\n", `unknown field "expected"`},
		{"bad kind", "queries:\n  - query: find me\n    expect: a\n    kind: easy\n", `kind "easy"; allowed: lexical, paraphrase, hard`},
		{"expect in also", "queries:\n  - query: find me\n    expect: a\n    also: [a]\n", "among the others"},
		{"duplicate key", "queries:\n  - query: find me\n    query: again\n    expect: a\n", "duplicate"},
		{"two documents", "queries: []\n---\nqueries: []\n", "want one document, found 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := writeFile(t, t.TempDir(), "queries.yaml", tc.body)
			qs, err := LoadQueries(file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadQueries = %v, %v; want an error with %q", qs, err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	agents := []*platform.Agent{{Name: "a"}, {Name: "b"}}
	for _, tc := range []struct {
		name    string
		queries []Query
		want    string
	}{
		{"fine", []Query{{Text: "x", Expect: "a", Also: []string{"b"}}, {Text: "y", Expect: "b"}}, ""},
		{"unknown expect", []Query{{Text: "x", Expect: "c"}}, `query "x" names agent "c", which the set does not hold`},
		{"unknown also", []Query{{Text: "x", Expect: "a", Also: []string{"d"}}}, `names agent "d"`},
		{"repeated", []Query{{Text: "x", Expect: "a"}, {Text: " X", Expect: "b"}}, `query " X" appears twice`},
	} {
		err := (&Set{Agents: agents, Queries: tc.queries}).Check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Check() = %v, want %q", tc.name, err, tc.want)
		}
	}
}
