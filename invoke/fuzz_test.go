package invoke

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzAgentAnswer feeds what an agent may answer, untrusted bytes, to the
// code that reads answers: the HTTP output rule, the error detail of a
// failed call, and an A2A task's outcome. None may panic; an output must be
// JSON; a detail must stay short.
func FuzzAgentAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"output":{"a":1}}`, `{"a":1}`, `[1,2]`, `"text"`, ``, `  `, `{"output":`, `<html>`,
		`{"detail":"no such repository"}`, `{"error":{"message":"boom"}}`, `{"title":"x","status":400}`,
		`{"kind":"task","status":{"state":"completed"},"artifacts":[{"parts":[{"kind":"data","data":{"n":1}}]}]}`,
		`{"kind":"task","status":{"state":"failed","message":{"parts":[{"kind":"text","text":"no"}]}}}`,
		`{"kind":"message","parts":[{"kind":"text","text":"a"},{"kind":"text","text":"b"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if out, ok := httpOutput(body); ok && !json.Valid(out) {
			t.Fatalf("httpOutput(%q) = %q, not JSON", body, out)
		}
		for _, ct := range []string{"application/json", "application/problem+json", "text/plain"} {
			d := errorDetail(ct, body)
			if utf8.RuneCountInString(d) > detailLimit+1 {
				t.Fatalf("errorDetail is %d runes, over the %d limit", utf8.RuneCountInString(d), detailLimit)
			}
		}
		var res a2aResult
		if json.Unmarshal(body, &res) == nil {
			out, err := taskOutcome("fuzz", 200, &res)
			if err == nil && out != nil && !json.Valid(out) {
				t.Fatalf("taskOutcome output %q is not JSON", out)
			}
		}
	})
}
