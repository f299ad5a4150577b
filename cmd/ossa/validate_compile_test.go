package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateCompiles checks that ossa validate judges a workflow as the
// engine runs it: a Loop whose steps sit inside loop, which the engine
// never runs, is an error located at those steps, and a string literal
// that reads like a reference is not one.
func TestValidateCompiles(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"misplaced.yaml": "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata: {name: w}\nspec:\n  steps:\n" +
			"    - id: each\n      kind: Loop\n      loop:\n        over: ${{ workflow.input.items }}\n" +
			"        steps: [{id: s, ref: echo, input: {i: \"${{ loop.itme }}\"}}]\n",
		"literal.yaml": "apiVersion: ossa/v0.4.6\nkind: Workflow\nmetadata: {name: w}\nspec:\n  steps:\n" +
			"    - {id: a, ref: echo, input: {x: \"${{ 'steps.nope.output' }}\"}}\n",
	})
	code, out, errOut := validateCmd(t, filepath.Join(dir, "misplaced.yaml"))
	want := filepath.Join(dir, "misplaced.yaml") + ":10:16: error: a Loop's steps go beside loop, not inside it: move them to /spec/steps/0/steps (/spec/steps/0/loop/steps)\n"
	if code != 1 || out != want || !strings.Contains(errOut, "1 documents, 1 errors") {
		t.Errorf("misplaced: exit %d\n%s%s\nwant\n%s", code, out, errOut, want)
	}
	code, out, errOut = validateCmd(t, filepath.Join(dir, "literal.yaml"), "--format", "json")
	if code != 0 || !strings.Contains(out, `"valid": true`) {
		t.Errorf("literal: exit %d\n%s%s", code, out, errOut)
	}
}
