package manifest

import (
	"os"
	"sort"
	"strings"
	"testing"
)

func TestWorkflowChecks(t *testing.T) {
	data, err := os.ReadFile("testdata/workflow-bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := Parse("workflow-bad.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range Validate(docs[0]).Diagnostics {
		got = append(got, d.Code+" "+d.Pointer+" "+d.Pos.String())
	}
	sort.Strings(got)
	// A reference is located at its name inside the string.
	want := []string{
		"dependency-cycle /spec/steps/1/depends_on 23:19",
		"duplicate-step-id /spec/steps/3/id 34:11",
		"unknown-dependency /spec/steps/3/depends_on/0 37:20",
		"unknown-input /spec/steps/1/input/branch 26:21",
		"unknown-step /spec/steps/2/input/text 33:19",
		"unknown-variable /spec/steps/1/input/zone 27:19",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAgentChecks(t *testing.T) {
	src := `apiVersion: ossa/v0.4.6
kind: Agent
metadata: {name: a}
spec:
  role: r
  tools:
    - {name: search, type: http}
    - {name: search, type: http}
`
	docs, _ := Parse("a.yaml", []byte(src))
	var codes []string
	for _, d := range check(docs[0]) {
		codes = append(codes, string(d.Severity)+" "+d.Code+" "+d.Pointer)
	}
	want := "error duplicate-tool-name /spec/tools/1/name,warning no-llm-no-endpoint /spec"
	if strings.Join(codes, ",") != want {
		t.Fatalf("got %v", codes)
	}
}

func TestConformanceProfiles(t *testing.T) {
	src := `apiVersion: ossa/v0.3.5
kind: Agent
metadata: {name: a, labels: {team: x}}
spec:
  role: r
  llm: {provider: openai, model: gpt}
  tools: []
`
	docs, _ := Parse("a.yaml", []byte(src))
	s, err := Conformance(docs[0], "baseline")
	if err != nil {
		t.Fatal(err)
	}
	// All 5 required (0.6) and 1 of 3 optional (0.4/3): passes, under the 0.8 warning line.
	if s.Status != "warn" || s.Value < 0.733 || s.Value > 0.734 || len(s.MissingOptional) != 2 {
		t.Fatalf("baseline: %+v", s)
	}
	s, _ = Conformance(docs[0], "enterprise")
	if s.Status != "fail" || len(s.MissingRequired) != 4 {
		t.Fatalf("enterprise: %+v", s)
	}
	if _, err := Conformance(docs[0], "gold"); err == nil {
		t.Fatal("unknown profile accepted")
	}
}

func TestUnsupportedVersion(t *testing.T) {
	docs, _ := Parse("a.yaml", []byte("apiVersion: ossa/v9.9\nkind: Agent\n"))
	r := Validate(docs[0])
	if r.Valid() || r.Diagnostics[0].Code != "unsupported-version" || len(r.Diagnostics[0].Allowed) < 10 ||
		!strings.Contains(r.Diagnostics[0].Format("a.yaml"), "allowed: ossa/v0.5*, ") {
		t.Fatalf("%+v", r.Diagnostics)
	}
}
