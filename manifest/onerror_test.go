package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// TestOnErrorString checks a step's on_error written as a plain string
// against each release that has Workflows: the schemas of ossa/v0.3.0 to
// v0.4 want an object ({action: continue}) and refuse the string, with a
// message that shows the object form; ossa/v0.5 leaves a Workflow's spec
// open, so the string is valid there. The object form is valid in all.
func TestOnErrorString(t *testing.T) {
	releases := []struct {
		apiVersion  string
		plainString bool
	}{
		{"ossa/v0.3.0", false},
		{"ossa/v0.3.1", false},
		{"ossa/v0.3.2", false},
		{"ossa/v0.3.3", false},
		{"ossa/v0.3", false},
		{"ossa/v0.3.4", false},
		{"ossa/v0.3.5", false},
		{"ossa/v0.3.6", false},
		{"ossa/v0.4.0", false},
		{"ossa/v0.4.6", false},
		{"ossa/v0.5", true},
		{"ossa/v0.5.0", true},
	}
	const workflow = "apiVersion: %s\nkind: Workflow\nmetadata:\n  name: wf\nspec:\n  steps:\n" +
		"    - id: a\n      kind: Agent\n      ref: echo\n      on_error: %s\n"
	for _, r := range releases {
		for _, form := range []string{"continue", "fail", "{action: continue}"} {
			src := fmt.Sprintf(workflow, r.apiVersion, form)
			docs, err := Parse("wf.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			res := Validate(docs[0])
			wantValid := r.plainString || strings.HasPrefix(form, "{")
			if res.Valid() != wantValid {
				t.Errorf("%s, on_error: %s: valid %v, want %v: %+v", r.apiVersion, form, res.Valid(), wantValid, res.Diagnostics)
				continue
			}
			if wantValid {
				continue
			}
			d := res.Diagnostics[0]
			if len(res.Diagnostics) != 1 || d.Pointer != "/spec/steps/0/on_error" || d.Pos.Line != 10 || d.Pos.Column != 17 ||
				!strings.Contains(d.Message, r.apiVersion+" writes a step's on_error as an object, such as {action: continue}") {
				t.Errorf("%s, on_error: %s: diagnostics %+v", r.apiVersion, form, res.Diagnostics)
			}
		}
	}
}
