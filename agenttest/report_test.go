package agenttest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n%s", path, t.Name(), got)
	}
}

// ordersReport runs the orders suite on fixed observations: the first
// scenario fails three assertions, the second passes, a third errs and a
// fourth is skipped.
func ordersReport(t *testing.T) Report {
	t.Helper()
	data, err := os.ReadFile("testdata/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("orders.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	extra := s.Scenarios[1]
	extra.Name = "agent down"
	skipped := s.Scenarios[1]
	skipped.Name = "after a failure"
	results := []ScenarioResult{
		Check(s.Scenarios[0], Observation{
			Output:      json.RawMessage(`{"status":"ok","id":"B-9","total":41.5,"currency":"EUR"}`),
			Latency:     2500 * time.Millisecond,
			ToolsCalled: []string{"lookup_order"},
		}),
		Check(s.Scenarios[1], Observation{
			Output:  json.RawMessage(`"I cannot print secrets & keys <ever>"`),
			Latency: 812345 * time.Microsecond,
		}),
		Check(extra, Observation{Latency: 30 * time.Second, Err: errors.New("timeout: no answer in 30s")}),
		Skip(skipped, "fail_fast: an earlier scenario failed"),
	}
	return NewReport(s, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), results)
}

func TestReportGolden(t *testing.T) {
	t.Parallel()
	r := ordersReport(t)
	want := Totals{Scenarios: 4, Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Duration: 33312345 * time.Microsecond}
	if r.Totals != want {
		t.Errorf("totals = %+v, want %+v", r.Totals, want)
	}
	if r.Passed() {
		t.Error("Passed() = true")
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "orders.report.json", append(b, '\n'))
}

func TestWriteJUnitGolden(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteJUnit(&b, ordersReport(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "orders.junit.xml", b.Bytes())
	// It is well-formed XML whose counts add up.
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("the JUnit XML does not parse: %v", err)
	}
	if doc.Tests != 4 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 4 {
		t.Errorf("parsed back: %+v", doc)
	}
}

func TestWriteJUnitEmpty(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteJUnit(&b, NewReport(&Suite{Name: "empty", Target: Target{Agent: "a"}}, time.Time{}, nil)); err != nil {
		t.Fatal(err)
	}
	golden(t, "empty.junit.xml", b.Bytes())
}
