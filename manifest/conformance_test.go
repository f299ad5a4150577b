package manifest

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ossa-platform/platform/internal/testenv"
)

// corpusDir is the OSSA conformance corpus beside the repository: real
// manifests, the official schemas and the official verdict of each document.
const corpusDir = "../../shared/ossa-corpus"

// knownDeviations lists the documents where our verdict differs from the
// official one on purpose, because the official schema is itself broken;
// docs/ossa-conformance.md gives each reason.
var knownDeviations = map[string]string{}

// officialSchemas maps each official schema of the corpus to the schema
// document of ours that stands for it. The test holds every document judged
// by a listed schema to the official verdict; a schema not yet listed is
// only measured (its agreement is logged).
var officialSchemas = map[string]string{
	"spec/history/v0.1.9/src/api/agent-manifest.schema.json": "v0.1.9.yaml",
	"spec/v0.2.9/ossa-0.2.9.schema.json":                     "v0.2.9.yaml",
	"spec/v0.3.0/ossa-0.3.0.schema.json":                     "v0.3.0.yaml",
	"spec/v0.3.1/ossa-0.3.1.schema.json":                     "v0.3.1.yaml",
	"spec/v0.3.2/ossa-0.3.2.schema.json":                     "v0.3.2.yaml",
	"spec/v0.3.3/ossa-0.3.3.schema.json":                     "v0.3.3.yaml",
	"spec/v0.3/ossa-v0.3.schema.json":                        "v0.3.4.yaml",
	"spec/v0.3/ossa-0.3.5.schema.json":                       "v0.3.5.yaml",
	"spec/v0.3/ossa-0.3.6.schema.json":                       "v0.3.6.yaml",
	"spec/v0.4/agent.schema.json":                            "v0.4.yaml",
	"spec/v0.4/validator.schema.json":                        "v0.4-validator.yaml",
	"spec/v0.5/agent.schema.json":                            "v0.5.yaml",
	"spec/v1/skill.schema.json":                              "v1-skill.yaml",
}

type verdict struct {
	path, apiVersion, kind, schema, result, firstError string
	doc                                                int
}

func readVerdicts(t *testing.T) []verdict {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "verdicts.tsv"))
	if os.IsNotExist(err) {
		if testenv.CI() {
			t.Fatalf("%s is missing: CI must run the OSSA conformance test", corpusDir)
		}
		t.Skipf("%s is absent (a user's checkout): the conformance test needs the OSSA corpus", corpusDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []verdict
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 7 || c[0] == "path" {
			continue
		}
		doc, _ := strconv.Atoi(c[1])
		out = append(out, verdict{path: c[0], doc: doc, apiVersion: c[2], kind: c[3], schema: c[4], result: c[5], firstError: c[6]})
	}
	return out
}

// TestConformance checks our verdict against the official one for every
// document the official schemas judged valid or invalid.
func TestConformance(t *testing.T) {
	verdicts := readVerdicts(t)
	files := map[string][]*Document{}
	agree, total := 0, 0
	bySchema := map[string][2]int{}
	var disagreements []string
	for _, v := range verdicts {
		if v.result != "valid" && v.result != "invalid" {
			continue
		}
		docs, ok := files[v.path]
		if !ok {
			data, err := os.ReadFile(filepath.Join(corpusDir, v.path))
			if err != nil {
				t.Fatal(err)
			}
			docs, _ = Parse(v.path, data)
			files[v.path] = docs
		}
		var doc *Document
		for _, d := range docs {
			if d.Index == v.doc {
				doc = d
			}
		}
		got := "invalid"
		var r *Result
		if doc != nil {
			r = Validate(doc)
			if r.SchemaValid() {
				got = "valid"
			}
		}
		total++
		counts := bySchema[v.schema]
		counts[1]++
		if got == v.result {
			agree++
			counts[0]++
		} else if _, known := knownDeviations[v.path]; !known && officialSchemas[v.schema] != "" {
			msg := v.path + " #" + strconv.Itoa(v.doc) + ": official " + v.result + " (" + v.firstError + "), ours " + got
			if r != nil && len(r.Diagnostics) > 0 {
				msg += ": " + r.Diagnostics[0].Pointer + " " + r.Diagnostics[0].Message
			}
			disagreements = append(disagreements, msg)
		}
		bySchema[v.schema] = counts
	}
	schemas := make([]string, 0, len(bySchema))
	for s := range bySchema {
		schemas = append(schemas, s)
	}
	sort.Strings(schemas)
	for _, s := range schemas {
		t.Logf("%-55s %3d/%3d agree", s, bySchema[s][0], bySchema[s][1])
	}
	t.Logf("agreement: %d/%d", agree, total)
	if testenv.CI() && len(officialSchemas) < len(bySchema) {
		t.Logf("%d official schemas have no document of ours yet", len(bySchema)-len(officialSchemas))
	}
	for _, d := range disagreements {
		t.Error(d)
	}
}
