package agenttest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	t.Parallel()
	order := `{"id":"A-17","total":41.5,"currency":"EUR","items":[{"sku":"x","qty":2},{"sku":"y","qty":1}],"tags":["new","paid"],"note":"sent <today> & paid"}`
	tests := []struct {
		name   string
		a      Assertion
		output string
		obs    Observation // Output is set from output when empty
		reason string      // "" when the assertion must hold
	}{
		{"equals whole", Assertion{Type: Equals, Value: map[string]any{"a": 1, "b": []any{true, nil}}}, `{"b":[true,null],"a":1.0}`, Observation{}, ""},
		{"equals number as number", Assertion{Type: Equals, Path: "$.total", Value: json.Number("4.15e1")}, order, Observation{}, ""},
		{"equals number differs", Assertion{Type: Equals, Path: "$.total", Value: 42}, order, Observation{}, "output.total is 41.5, want 42"},
		{"equals big integers exactly", Assertion{Type: Equals, Value: json.Number("9007199254740993")}, `9007199254740992`, Observation{}, "output is 9007199254740992, want 9007199254740993"},
		{"equals type differs", Assertion{Type: Equals, Path: "total", Value: "41.5"}, order, Observation{}, `output.total is a number 41.5, want a string "41.5"`},
		{"equals nested", Assertion{Type: Equals, Path: "$.items", Value: []any{map[string]any{"sku": "x", "qty": 2}, map[string]any{"sku": "y", "qty": 3}}}, order, Observation{}, "output.items[1].qty is 1, want 3"},
		{"equals missing member", Assertion{Type: Equals, Value: map[string]any{"a": 1, "b": 2}}, `{"a":1}`, Observation{}, "output.b is missing, want 2"},
		{"equals extra member", Assertion{Type: Equals, Value: map[string]any{"a": 1}}, `{"a":1,"my key":2}`, Observation{}, `output["my key"] is 2, want no such member`},
		{"equals length", Assertion{Type: Equals, Path: "$.tags", Value: []any{"new"}}, order, Observation{}, "output.tags has 2 elements, want 1"},
		{"equals null", Assertion{Type: Equals, Value: nil, HasValue: true}, `null`, Observation{}, ""},
		{"equals text output", Assertion{Type: Equals, Value: "hello world"}, `hello world`, Observation{}, ""},
		{"equals path missing", Assertion{Type: Equals, Path: "$.nope", Value: 1}, order, Observation{}, "output.nope does not exist"},
		{"equals wildcard list", Assertion{Type: Equals, Path: "$.items[*].sku", Value: []any{"x", "y"}}, order, Observation{}, ""},

		{"contains substring", Assertion{Type: Contains, Path: "$.note", Value: "<today> &"}, order, Observation{}, ""},
		{"contains substring of JSON text", Assertion{Type: Contains, Value: `"currency":"EUR"`}, order, Observation{}, ""},
		{"contains substring fails", Assertion{Type: Contains, Value: "Paris"}, `"The capital is Lyon"`, Observation{}, `output is "The capital is Lyon", which does not contain "Paris"`},
		{"contains subset", Assertion{Type: Contains, Value: map[string]any{"currency": "EUR", "total": 41.5}}, order, Observation{}, ""},
		{"contains nested subset", Assertion{Type: Contains, Value: map[string]any{"o": map[string]any{"s": "ok"}}}, `{"o":{"s":"ok","n":1},"x":2}`, Observation{}, ""},
		{"contains subset differs", Assertion{Type: Contains, Value: map[string]any{"o": map[string]any{"s": "ok"}}}, `{"o":{"s":"ko"}}`, Observation{}, `output.o.s is "ko", want "ok"`},
		{"contains subset missing", Assertion{Type: Contains, Value: map[string]any{"status": "ok"}}, order, Observation{}, `output.status is missing, want "ok"`},
		{"contains element", Assertion{Type: Contains, Path: "$.items", Value: map[string]any{"sku": "y", "qty": 1}}, order, Observation{}, ""},
		{"contains elements", Assertion{Type: Contains, Path: "$.tags", Value: []any{"paid", "new"}}, order, Observation{}, ""},
		{"contains element missing", Assertion{Type: Contains, Path: "$.tags", Value: []any{"paid", "late"}}, order, Observation{}, `output.tags has no element "late"`},
		{"contains number element", Assertion{Type: Contains, Value: 2}, `[1,2.0,3]`, Observation{}, ""},
		{"contains mismatched", Assertion{Type: Contains, Path: "$.total", Value: 41}, order, Observation{}, "output.total is a number 41.5, which cannot contain a number 41"},

		{"not_contains holds", Assertion{Type: NotContains, Value: "sk-"}, `{"answer":"I cannot share keys"}`, Observation{}, ""},
		{"not_contains fails", Assertion{Type: NotContains, Value: "sk-"}, `{"answer":"here: sk-123"}`, Observation{}, `output contains "sk-", want it not to`},
		{"not_contains element", Assertion{Type: NotContains, Path: "$.tags", Value: "late"}, order, Observation{}, ""},

		{"matches", Assertion{Type: Matches, Path: "$.id", Value: `^A-\d+$`}, order, Observation{}, ""},
		{"matches number text", Assertion{Type: Matches, Path: "$.total", Value: `^41\.5$`}, order, Observation{}, ""},
		{"matches fails", Assertion{Type: Matches, Path: "$.currency", Value: `^USD$`}, order, Observation{}, `output.currency is "EUR", which does not match /^USD$/`},

		{"json_path exists", Assertion{Type: JSONPath, Path: "$.items[0].sku"}, order, Observation{}, ""},
		{"json_path missing", Assertion{Type: JSONPath, Path: "$.items[5]"}, order, Observation{}, "output.items[5] does not exist"},
		{"json_path not exists", Assertion{Type: JSONPath, Path: "$.error", Not: true}, order, Observation{}, ""},
		{"json_path not exists fails", Assertion{Type: JSONPath, Path: "$.currency", Not: true}, order, Observation{}, `output.currency is "EUR", want it not to exist`},
		{"json_path value", Assertion{Type: JSONPath, Path: "total", Value: 41.5}, order, Observation{}, ""},
		{"json_path value differs", Assertion{Type: JSONPath, Path: "$.total", Value: 42}, order, Observation{}, "output.total is 41.5, want 42"},
		{"json_path value missing", Assertion{Type: JSONPath, Path: "$.sum", Value: 42}, order, Observation{}, "output.sum does not exist, want 42"},
		{"json_path null value", Assertion{Type: JSONPath, Path: "$.e", Value: nil, HasValue: true}, `{"e":null}`, Observation{}, ""},
		{"json_path not value", Assertion{Type: JSONPath, Path: "$.currency", Value: "EUR", Not: true}, order, Observation{}, `output.currency is "EUR", want anything else`},
		{"json_path filter", Assertion{Type: JSONPath, Path: "$.items[?@.qty > 1].sku", Value: []any{"x"}}, order, Observation{}, ""},
		{"json_path on text", Assertion{Type: JSONPath, Path: "$.a"}, `not json at all`, Observation{}, "output.a does not exist"},

		{"json_schema holds", Assertion{Type: JSONSchema, Value: map[string]any{"type": "object", "required": []any{"total"}}}, order, Observation{}, ""},
		{"json_schema fails", Assertion{Type: JSONSchema, Value: map[string]any{"properties": map[string]any{"total": map[string]any{"type": "integer"}}}}, order, Observation{}, "the schema rejects output.total: got number, want integer"},
		{"json_schema fails at path", Assertion{Type: JSONSchema, Path: "$.items", Value: map[string]any{"items": map[string]any{"required": []any{"price"}}}}, order, Observation{}, "the schema rejects output.items[0]: missing property 'price'; output.items[1]: missing property 'price'"},

		{"max_latency_ms holds", Assertion{Type: MaxLatency, Value: 100}, `{}`, Observation{Latency: 100 * time.Millisecond}, ""},
		{"max_latency_ms fails", Assertion{Type: MaxLatency, Value: 100}, `{}`, Observation{Latency: 100*time.Millisecond + 500*time.Microsecond}, "latency is 100.5 ms, want at most 100 ms"},
		{"max_tokens fails", Assertion{Type: MaxTokens, Value: 10}, `{}`, Observation{Tokens: 11}, "tokens is 11, want at most 10"},
		{"max_tokens unknown", Assertion{Type: MaxTokens, Value: 10}, `{}`, Observation{}, "the agent reported no tokens, want at most 10"},
		{"max_turns holds", Assertion{Type: MaxTurns, Value: 3}, `{}`, Observation{Turns: 3}, ""},

		{"tool_called", Assertion{Type: ToolCalled, Value: "search"}, `{}`, Observation{ToolsCalled: []string{"lookup", "search"}}, ""},
		{"tool_called fails", Assertion{Type: ToolCalled, Value: "search"}, `{}`, Observation{ToolsCalled: []string{"lookup", "format"}}, "tool search was not called; called: lookup, format"},
		{"tool_called several fail", Assertion{Type: ToolCalled, Value: []any{"a", "b", "c"}}, `{}`, Observation{ToolsCalled: []string{"b"}}, "tools a, c were not called; called: b"},
		{"tool_called none", Assertion{Type: ToolCalled, Value: "a"}, `{}`, Observation{}, "tool a was not called; called: none"},
		{"tool_called not", Assertion{Type: ToolCalled, Value: "rm", Not: true}, `{}`, Observation{ToolsCalled: []string{"ls"}}, ""},
		{"tool_called not fails", Assertion{Type: ToolCalled, Value: "rm", Not: true}, `{}`, Observation{ToolsCalled: []string{"ls", "rm"}}, "tool rm was called, want it not to be; called: ls, rm"},

		{"no output", Assertion{Type: Contains, Value: "x"}, "", Observation{}, "the agent gave no output"},
		{"call failed", Assertion{Type: Equals, Value: 1}, "", Observation{Err: errors.New("timeout after 30s")}, "the agent gave no answer: timeout after 30s"},
		{"invalid assertion", Assertion{Type: Matches, Value: "("}, `"x"`, Observation{}, "the assertion is invalid: value: is not a regular expression: error parsing regexp: missing closing ): `(`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs := tt.obs
			if tt.output != "" {
				obs.Output = json.RawMessage(tt.output)
			}
			a := tt.a
			if tt.name != "invalid assertion" {
				if err := a.Compile(); err != nil {
					t.Fatalf("Compile: %v", err)
				}
			}
			ok, reason := Evaluate(a, obs)
			if ok != (tt.reason == "") || reason != tt.reason {
				t.Errorf("Evaluate = %v, %q; want %v, %q", ok, reason, tt.reason == "", tt.reason)
			}
			// Evaluate compiles an assertion built by hand, with the same verdict.
			if ok2, reason2 := Evaluate(tt.a, obs); ok2 != ok || reason2 != reason {
				t.Errorf("Evaluate uncompiled = %v, %q; compiled gave %v, %q", ok2, reason2, ok, reason)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    Assertion
		want string
	}{
		{Assertion{Type: "contain", Value: "x"}, `type: "contain" is not an assertion type`},
		{Assertion{Type: Equals}, "value: is required for equals"},
		{Assertion{Type: JSONPath}, "path: is required for json_path"},
		{Assertion{Type: JSONPath, Path: "$[?"}, "path: is not a JSONPath"},
		{Assertion{Type: MaxLatency, Path: "$.a", Value: 1}, "path: does not apply to max_latency_ms"},
		{Assertion{Type: MaxLatency, Value: 1.5}, "value: must be a positive integer, not 1.5"},
		{Assertion{Type: MaxLatency, Value: 0}, "value: must be a positive integer, not 0"},
		{Assertion{Type: Matches, Value: 3}, "value: must be a regular expression (a string), not a number"},
		{Assertion{Type: Matches, Value: strings.Repeat("a", MaxPatternLen+1)}, "value: the pattern is longer than 4096 bytes"},
		{Assertion{Type: Matches, Value: "(a{1000}){1000}"}, "value: is not a regular expression"},
		{Assertion{Type: Matches, Value: strings.Repeat("(abc|def){1000}", 5)}, "value: the pattern compiles to"},
		{Assertion{Type: JSONSchema, Value: "object"}, "value: must be a JSON Schema (an object or a boolean), not a string"},
		{Assertion{Type: JSONSchema, Value: map[string]any{"$ref": "file:///etc/passwd"}}, "value: is not a JSON Schema"},
		{Assertion{Type: JSONSchema, Value: map[string]any{"type": 12}}, "value: is not a JSON Schema"},
		{Assertion{Type: ToolCalled, Value: []any{}}, "value: must name at least one tool"},
		{Assertion{Type: ToolCalled, Value: []any{"a", 1}}, "value: element 1 must be a tool name, not 1"},
		{Assertion{Type: Equals, Value: 1, Not: true}, "not: applies to tool_called and json_path only"},
	}
	for _, tt := range tests {
		a := tt.a
		err := a.Compile()
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want an error starting %q", tt.a, err, tt.want)
		}
	}
}

func TestNumbersEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"42", "42.0", true}, {"42", "4.2e1", true}, {"0.1", "1e-1", true}, {"-0", "0", true},
		{"0.0", "0e10", true}, {"100", "1E2", true}, {"-1.50", "-15e-1", true},
		{"1", "-1", false}, {"0.1", "0.10000000000000001", false}, {"1e400", "1e400", true}, {"1e400", "1e401", false},
	}
	for _, tt := range tests {
		if got := numbersEqual(json.Number(tt.a), json.Number(tt.b)); got != tt.want {
			t.Errorf("numbersEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
