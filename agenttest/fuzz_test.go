package agenttest

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/ossa-platform/platform"
)

// FuzzParse: any input is parsed or refused with an EINVALID
// *platform.Error; a parsed suite's assertions are all compiled and
// evaluate without panicking.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/orders.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"apiVersion":"ossa/v0.3.0","kind":"AgentTest","metadata":{"name":"n"},"spec":{"target":{"agent":"a"},"scenarios":[{"name":"s","input":{},"assertions":[{"type":"json_path","path":"$..a"}]}]}}`))
	f.Add([]byte("kind: AgentTest\nspec: {scenarios: [{name: x, input: {}, assertions: [{type: matches, value: 'a{2,'}]}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			var e *platform.Error
			if !errors.As(err, &e) || e.Code != platform.EINVALID {
				t.Fatalf("error %v is not an EINVALID *platform.Error", err)
			}
			return
		}
		obs := Observation{Output: json.RawMessage(`{"a":[1,"x",{"b":null}]}`), ToolsCalled: []string{"t"}, Tokens: 1, Turns: 1}
		for _, sc := range s.Scenarios {
			for _, a := range sc.Assertions {
				if !a.compiled {
					t.Fatalf("assertion %s not compiled", a.Pointer)
				}
				if ok, reason := Evaluate(a, obs); !ok && reason == "" {
					t.Fatalf("assertion %s failed without a reason", a.Pointer)
				}
			}
			Check(sc, obs)
		}
	})
}

// FuzzEvaluate: json_path, contains and equals on any output and value
// never panic, fail only with a reason, and agree with each other where
// their meanings meet.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"a":{"b":[1,2,{"c":"x"}]}}`, "$.a.b[2].c", `"x"`)
	f.Add(`[1,2.0,3e0]`, "$[*]", `2`)
	f.Add(`"plain text"`, "$", `"text"`)
	f.Add(`{"k":1e999999}`, "$..k", `{"k":1}`)
	f.Add(`not json {`, "$[?@.a==1]", `[]`)
	f.Fuzz(func(t *testing.T, output, path, value string) {
		var v any
		if err := json.Unmarshal([]byte(value), &v); err != nil {
			return
		}
		obs := Observation{Output: json.RawMessage(output)}
		jp := Assertion{Type: JSONPath, Path: path, Value: json.RawMessage(value)}
		if err := jp.Compile(); err != nil {
			return // not a JSONPath
		}
		ok, reason := Evaluate(jp, obs)
		if ok != (reason == "") {
			t.Fatalf("json_path: ok %v with reason %q", ok, reason)
		}
		eq := Assertion{Type: Equals, Path: path, Value: jp.Value}
		if err := eq.Compile(); err != nil {
			t.Fatalf("equals with the same path and value: %v", err)
		}
		ok2, _ := Evaluate(eq, obs)
		if ok2 != ok {
			t.Fatalf("json_path %v but equals %v at %q", ok, ok2, path)
		}
		c := Assertion{Type: Contains, Path: path, Value: jp.Value}
		nc := Assertion{Type: NotContains, Path: path, Value: jp.Value}
		if c.Compile() != nil || nc.Compile() != nil {
			t.Fatal("contains does not compile")
		}
		cok, creason := Evaluate(c, obs)
		ncok, _ := Evaluate(nc, obs)
		if cok != (creason == "") {
			t.Fatalf("contains: ok %v with reason %q", cok, creason)
		}
		if cok && ncok {
			t.Fatalf("contains and not_contains both hold at %q", path)
		}
		if ok && !cok {
			if _, isArr := jp.Value.([]any); !isArr {
				// Whatever equals a value contains it, but for an array
				// value, which is taken as a set of elements to find.
				t.Fatalf("equals holds but contains fails: %s", creason)
			}
		}
	})
}
