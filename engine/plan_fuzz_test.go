package engine

import (
	"encoding/json"
	"testing"

	"github.com/ossa-platform/platform"
)

// FuzzCompile feeds workflow definitions to the planner: any JSON must
// give a plan or an EINVALID error naming fields, never a panic, and a
// plan's steps must have no dependency cycle.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"Workflow","spec":{"steps":[{"id":"a","ref":"x"},{"id":"b","ref":"x","depends_on":["a"]}]}}`,
		`{"spec":{"steps":[{"id":"l","loop":{"over":"${{ workflow.input.items }}"},"steps":[{"id":"s","capability":"c","input":{"i":"${{ loop.item }}"}}]}]}}`,
		`{"spec":{"steps":[{"id":"p","parallel":[{"id":"a","ref":"x"}]},{"id":"c","branches":[{"condition":"steps.p.output.a","steps":[{"id":"y","ref":"x"}]}],"else":[{"id":"z","ref":"x"}]}]}}`,
		`{"spec":{"error_handling":{"on_failure":"continue"},"timeout_seconds":5,"steps":[{"id":"a","ref":"x","on_error":{"action":"compensate","compensation":{"id":"u","ref":"x"}}}]}}`,
		`{"spec":{"steps":[{"id":"a","ref":"x","depends_on":["b"]},{"id":"b","ref":"x","input":{"v":"${{ steps.a.output }}"}}]}}`,
		`{"spec":{"inputs":{"type":"object","required":["n"]},"steps":[]}}`,
		`[]`, `null`, `{"spec":{"steps":[{}]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, def []byte) {
		if !json.Valid(def) {
			return
		}
		pl, err := compile(def, "/workflow")
		if err != nil {
			e, ok := err.(*platform.Error)
			if !ok || e.Code != platform.EINVALID || len(e.Fields) == 0 {
				t.Fatalf("compile error %T %v is not EINVALID with fields", err, err)
			}
			return
		}
		var check func(nodes []*stepNode)
		check = func(nodes []*stepNode) {
			// Kahn's algorithm: every step must become ready, and wait
			// only for siblings.
			byID := map[string]*stepNode{}
			for _, n := range nodes {
				byID[n.step.ID] = n
			}
			done := map[string]bool{}
			for progress := true; progress; {
				progress = false
				for _, n := range nodes {
					if done[n.step.ID] {
						continue
					}
					ready := true
					for _, d := range n.deps {
						if byID[d] == nil {
							t.Fatalf("step %s waits for %q, which is not a sibling", n.ptr, d)
						}
						ready = ready && done[d]
					}
					if ready {
						done[n.step.ID], progress = true, true
					}
				}
			}
			if len(done) != len(byID) {
				t.Fatalf("plan has a cycle: only %v can run", done)
			}
			for _, n := range nodes {
				for _, g := range n.children {
					check(g)
				}
				if n.compensation != nil {
					check([]*stepNode{n.compensation})
				}
			}
		}
		check(pl.steps)
	})
}
