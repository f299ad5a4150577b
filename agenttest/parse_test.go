package agenttest

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
)

func TestParse(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("orders.yaml", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.Name != "order-agent-tests" || s.Target != (Target{Agent: "order-agent", Version: "2.1.0"}) {
		t.Errorf("suite = %q, %+v", s.Name, s.Target)
	}
	if want := (Config{Timeout: 30 * time.Second, FailFast: false}); s.Config != want {
		t.Errorf("config = %+v, want %+v", s.Config, want)
	}
	if len(s.Scenarios) != 2 {
		t.Fatalf("%d scenarios, want 2", len(s.Scenarios))
	}
	var got []string
	for _, a := range s.Scenarios[0].Assertions {
		got = append(got, string(a.Type)+" "+a.Pointer)
	}
	want := []string{
		"contains /spec/scenarios/0/expected/output",
		"tool_called /spec/scenarios/0/expected/tools_called",
		"max_latency_ms /spec/scenarios/0/expected/max_latency_ms",
		"json_path /spec/scenarios/0/assertions/0",
		"equals /spec/scenarios/0/assertions/1",
		"matches /spec/scenarios/0/assertions/2",
		"json_schema /spec/scenarios/0/assertions/3",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("assertions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if in := string(s.Scenarios[0].Input); in != `{"order_id":"A-17"}` {
		t.Errorf("input = %s", in)
	}
	if m := s.Scenarios[0].Assertions[4].Message; m != "prices are in euros" {
		t.Errorf("message = %q", m)
	}
	if !s.Scenarios[1].Assertions[1].Not {
		t.Error("tool_called not: true was lost")
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	s, err := Parse("t.json", []byte(`{"apiVersion":"ossa/v0.3.0","kind":"AgentTest","metadata":{"name":"n"},
		"spec":{"target":{"agent":"a"},"scenarios":[{"name":"smoke","input":{}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Config{Timeout: DefaultTimeout, FailFast: true}); s.Config != want {
		t.Errorf("config = %+v, want %+v", s.Config, want)
	}
	if len(s.Scenarios[0].Assertions) != 0 || s.Scenarios[0].Mocks != nil {
		t.Errorf("scenario = %+v", s.Scenarios[0])
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const head = "apiVersion: ossa/v0.3.0\nkind: AgentTest\nmetadata: {name: t}\nspec:\n  target: {agent: a}\n  scenarios:\n"
	tests := []struct {
		name string
		yaml string
		want []string // "pointer line:col message-prefix"
	}{
		{"not a mapping", "- 1\n", []string{" 1:1 must be an object, not an array"}},
		{"wrong kind", "apiVersion: ossa/v0.3.0\nkind: Agent\nmetadata: {name: t}\nspec: {target: {agent: a}, scenarios: []}\n",
			[]string{`/kind 2:7 must be AgentTest, not "Agent"`}},
		{"missing members", "apiVersion: ossa/v0.3.0\nkind: AgentTest\nspec: {}\n", []string{
			"/metadata 1:1 is required", "/spec/target 3:7 is required", "/spec/scenarios 3:7 is required"}},
		{"bad config", "apiVersion: ossa/v0.3.0\nkind: AgentTest\nmetadata: {name: t}\nspec:\n  target: {agent: a}\n  config: {timeout_seconds: -1, retries: 1.5, parallel: yes please}\n  scenarios: []\n",
			[]string{"/spec/config/timeout_seconds 6:29 must be a positive integer", "/spec/config/retries 6:42 must be an integer, not 1.5",
				"/spec/config/parallel 6:57 must be a boolean, not a string"}},
		{"scenario members", head + "    - {name: s, input: x, assertion: []}\n    - {input: {}}\n", []string{
			"/spec/scenarios/0/assertion 7:38 is not a member here", "/spec/scenarios/0/input 7:24 must be an object, not a string",
			"/spec/scenarios/1/name 8:7 is required"}},
		{"duplicate names", head + "    - {name: s, input: {}}\n    - {name: s, input: {}}\n", []string{
			`/spec/scenarios/1/name 8:14 "s" is the name of scenario 0 too`}},
		{"assertion type", head + "    - name: s\n      input: {}\n      assertions:\n        - {type: equal, value: 1}\n        - {value: 1}\n        - 3\n",
			[]string{`/spec/scenarios/0/assertions/0/type 10:18 "equal" is not an assertion type; allowed: equals, contains`,
				"/spec/scenarios/0/assertions/1/type 11:11 is required", "/spec/scenarios/0/assertions/2 12:11 must be an object, not a number"}},
		{"assertion values", head + "    - name: s\n      input: {}\n      assertions:\n        - {type: matches, value: '(', path: $.a}\n        - {type: json_path, path: '$[?'}\n        - {type: equals}\n        - {type: tool_called, value: [1]}\n        - {type: equals, value: 1, not: true}\n        - {type: json_schema, value: {type: 12}}\n        - {type: json_path, path: $.a, vaule: 1}\n",
			[]string{"/spec/scenarios/0/assertions/0/value 10:34 is not a regular expression",
				"/spec/scenarios/0/assertions/1/path 11:35 is not a JSONPath",
				"/spec/scenarios/0/assertions/2/value 12:11 is required for equals",
				"/spec/scenarios/0/assertions/3/value 13:38 element 0 must be a tool name",
				"/spec/scenarios/0/assertions/4/not 14:41 applies to tool_called and json_path only",
				"/spec/scenarios/0/assertions/5/value 15:38 is not a JSON Schema: schema.type: value must be one of",
				"/spec/scenarios/0/assertions/6/vaule 16:47 is not a member here"}},
		{"expected", head + "    - name: s\n      input: {}\n      expected: {output: 3, tools_called: [], max_latency_ms: 0, max_tokenz: 1}\n",
			[]string{"/spec/scenarios/0/expected/max_tokenz 9:78 is not a member here",
				"/spec/scenarios/0/expected/output 9:26 must be an object, not a number",
				"/spec/scenarios/0/expected/tools_called 9:43 must name at least one tool",
				"/spec/scenarios/0/expected/max_latency_ms 9:63 must be a positive integer, not 0"}},
		{"duplicate key", head + "    - {name: s, name: t, input: {}}\n", []string{` 7:17 duplicate key "name"`}},
		{"two documents", head + "    []\n---\n" + head + "    []\n", []string{"an AgentTest file must hold exactly one document, not 2"}},
		{"unreadable", "a: [1\n", []string{" 1:1 did not find expected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("t.yaml", []byte(tt.yaml))
			var e *platform.Error
			if !errors.As(err, &e) || e.Code != platform.EINVALID {
				t.Fatalf("Parse = %v, want an EINVALID *platform.Error", err)
			}
			var got []string
			for _, f := range e.Fields {
				got = append(got, f.Field+" "+itoa(f.Line)+":"+itoa(f.Column)+" "+f.Message)
			}
			if len(e.Fields) == 0 {
				got = []string{e.Message}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("problem %d = %q, want it to start %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
