package agenttest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Report is the outcome of running a suite: one result per scenario, in
// the manifest's order, and the totals.
type Report struct {
	Suite  string `json:"suite"`
	Target Target `json:"target"`
	// Started is when the run began; zero when unknown.
	Started   time.Time        `json:"started,omitzero"`
	Totals    Totals           `json:"totals"`
	Scenarios []ScenarioResult `json:"scenarios"`
}

// Totals counts scenarios by outcome; Passed+Failed+Errors+Skipped is
// Scenarios.
type Totals struct {
	Scenarios int `json:"scenarios"`
	Passed    int `json:"passed"`
	Failed    int `json:"failed"` // an assertion failed
	Errors    int `json:"errors"` // the agent gave no answer
	Skipped   int `json:"skipped"`
	// Duration is the sum of the scenarios' latencies.
	Duration time.Duration `json:"-"`
}

// ScenarioResult is one scenario's outcome.
type ScenarioResult struct {
	Name    string        `json:"name"`
	Passed  bool          `json:"passed"`
	Latency time.Duration `json:"-"`
	// Error is why the agent gave no answer; its assertions were not
	// evaluated.
	Error string `json:"error,omitempty"`
	// Skipped says why the scenario did not run (fail_fast), "" when it ran.
	Skipped  string    `json:"skipped,omitempty"`
	Failures []Failure `json:"failures,omitempty"`
}

// Failure is one assertion that did not hold.
type Failure struct {
	Type Type `json:"type"`
	// Pointer locates the assertion in the manifest.
	Pointer string `json:"pointer"`
	// Message is the assertion's own message, when the manifest gave one.
	Message string `json:"message,omitempty"`
	// Reason says what differed.
	Reason string `json:"reason"`
}

// Check evaluates every assertion of s on obs. A failed call is an error
// and no assertion is evaluated.
func Check(s Scenario, obs Observation) ScenarioResult {
	r := ScenarioResult{Name: s.Name, Latency: obs.Latency}
	if obs.Err != nil {
		r.Error = obs.Err.Error()
		return r
	}
	for _, a := range s.Assertions {
		if ok, reason := Evaluate(a, obs); !ok {
			r.Failures = append(r.Failures, Failure{Type: a.Type, Pointer: a.Pointer, Message: a.Message, Reason: reason})
		}
	}
	r.Passed = len(r.Failures) == 0
	return r
}

// Skip is the result of a scenario that did not run, and why.
func Skip(s Scenario, why string) ScenarioResult {
	return ScenarioResult{Name: s.Name, Skipped: why}
}

// NewReport gathers the results of a run of suite and counts them.
func NewReport(suite *Suite, started time.Time, results []ScenarioResult) Report {
	r := Report{Suite: suite.Name, Target: suite.Target, Started: started, Scenarios: results}
	if r.Scenarios == nil {
		r.Scenarios = []ScenarioResult{}
	}
	for _, s := range results {
		r.Totals.Scenarios++
		r.Totals.Duration += s.Latency
		switch {
		case s.Skipped != "":
			r.Totals.Skipped++
		case s.Error != "":
			r.Totals.Errors++
		case s.Passed:
			r.Totals.Passed++
		default:
			r.Totals.Failed++
		}
	}
	return r
}

// Passed reports whether every scenario passed (none failed, erred or was
// skipped).
func (r Report) Passed() bool { return r.Totals.Passed == r.Totals.Scenarios }

// MarshalJSON adds latency_ms, milliseconds to the microsecond.
func (s ScenarioResult) MarshalJSON() ([]byte, error) {
	type plain ScenarioResult
	return json.Marshal(struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}{plain(s), millis(s.Latency)})
}

// MarshalJSON adds duration_ms, milliseconds to the microsecond.
func (t Totals) MarshalJSON() ([]byte, error) {
	type plain Totals
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(t), millis(t.Duration)})
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// JUnit XML, as Jenkins, GitLab and GitHub read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// xmlText replaces the characters XML 1.0 cannot hold (most control
// characters) with U+FFFD: CDATA, unlike attributes, is written as is.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

// WriteJUnit writes r as JUnit XML: one testsuite named after the suite,
// one testcase per scenario. A testcase has at most one failure element
// (JUnit's schema allows no more): its message is the first reason, its
// text every failed assertion, one a line.
func WriteJUnit(w io.Writer, r Report) error {
	suite := junitSuite{
		Name: r.Suite, Tests: r.Totals.Scenarios, Failures: r.Totals.Failed, Errors: r.Totals.Errors,
		Skipped: r.Totals.Skipped, Time: seconds(r.Totals.Duration),
		Properties: []junitProperty{{Name: "target.agent", Value: r.Target.Agent}},
		Cases:      []junitCase{},
	}
	if r.Target.Version != "" {
		suite.Properties = append(suite.Properties, junitProperty{Name: "target.version", Value: r.Target.Version})
	}
	if !r.Started.IsZero() {
		suite.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05Z")
	}
	for _, s := range r.Scenarios {
		c := junitCase{Name: s.Name, Classname: r.Suite, Time: seconds(s.Latency)}
		switch {
		case s.Skipped != "":
			c.Skipped = &junitProblem{Message: s.Skipped}
		case s.Error != "":
			c.Error = &junitProblem{Message: s.Error, Type: "error"}
		case len(s.Failures) > 0:
			var b strings.Builder
			for _, f := range s.Failures {
				fmt.Fprintf(&b, "%s (%s): %s", f.Type, f.Pointer, f.Reason)
				if f.Message != "" {
					fmt.Fprintf(&b, " [%s]", f.Message)
				}
				b.WriteByte('\n')
			}
			msg := s.Failures[0].Reason
			if len(s.Failures) > 1 {
				msg = fmt.Sprintf("%s (and %d more)", msg, len(s.Failures)-1)
			}
			c.Failure = &junitProblem{Message: msg, Type: string(s.Failures[0].Type), Text: xmlText(b.String())}
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: r.Suite, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
