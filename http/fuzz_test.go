package http

import (
	"encoding/json"
	"testing"

	"github.com/ossa-platform/platform"
)

// FuzzDecodeAgent feeds arbitrary bodies to the agent decoder: it must never
// panic, and whatever it accepts must be a valid agent.
func FuzzDecodeAgent(f *testing.F) {
	for _, seed := range []string{
		`{"name":"summarizer","type":"worker","capabilities":["summarize"],"endpoint":"http://localhost:9001"}`,
		`{"name":"a","type":"monitor","endpoint":"https://x","labels":{"k":"v"},"metadata":{"n":[1,{"m":null}]}}`,
		`{"name":7,"capabilities":["a",2],"labels":"x","colour":1}`,
		"{\n\"name\": \"x\",\n\"type\" \"worker\"}",
		`[1,2]`, `null`, ``, `{"name":"x"`, `{} {}`, `{"metadata":[1]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeAgent(body, requiredAgentFields)
		if err != nil {
			if c := platform.ErrorCode(err); c != platform.EBADREQUEST && c != platform.EINVALID {
				t.Fatalf("error code %q for %q: %v", c, body, err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted an invalid agent from %q: %v", body, err)
		}
	})
}

// FuzzMergePatch checks that any patch of a valid agent either fails
// cleanly or yields a valid agent.
func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"labels":{"a":null,"b":"2"},"status":"inactive"}`))
	f.Add([]byte(`{"name":null}`))
	f.Add([]byte(`{"metadata":{"x":{"y":1}}}`))
	f.Fuzz(func(t *testing.T, patch []byte) {
		var p map[string]any
		if strictUnmarshal(patch, &p) != nil || p == nil {
			return
		}
		doc := map[string]any{"name": "a", "type": "worker", "endpoint": "http://x", "labels": map[string]any{"a": "1"}}
		merged, err := jsonMarshal(mergePatch(doc, p))
		if err != nil {
			return
		}
		if a, err := decodeAgent(merged, requiredAgentFields); err == nil {
			if err := a.Validate(); err != nil {
				t.Fatalf("invalid agent from patch %q: %v", patch, err)
			}
		}
	})
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
