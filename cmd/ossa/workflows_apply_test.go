package main

import (
	"os"
	"strings"
	"testing"
)

// TestWorkflowsApply stores a workflow with apply, a second revision of it,
// nothing for an unchanged manifest, and refuses a stale --revision
// without storing anything.
func TestWorkflowsApply(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	original, err := os.ReadFile("../../examples/workflows/review-pipeline.ossa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first := writeFile(t, "v1.yaml", string(original))
	code, out, errOut := workflowsCmd(t, server, "apply", "-f", first)
	if code != 0 || !strings.Contains(errOut, "created workflow review-pipeline at revision 1") || !strings.Contains(out, "Revision:     1\n") {
		t.Fatalf("apply a new workflow: exit %d\n%s%s", code, out, errOut)
	}
	changed := strings.Replace(string(original), "version: 1.0.0", "version: 1.1.0", 1)
	if changed == string(original) {
		t.Fatal("the example workflow has no version 1.0.0 to change")
	}
	second := writeFile(t, "v2.yaml", changed)
	code, out, errOut = workflowsCmd(t, server, "apply", "-f", second, "--revision", "1")
	if code != 0 || !strings.Contains(errOut, "workflow review-pipeline at revision 2") || !strings.Contains(out, "Version:      1.1.0\n") {
		t.Fatalf("apply a change at revision 1: exit %d\n%s%s", code, out, errOut)
	}
	// Unchanged: no new revision.
	if code, _, errOut = workflowsCmd(t, server, "apply", "-f", second); code != 0 || !strings.Contains(errOut, "at revision 2") {
		t.Fatalf("apply the same manifest again: exit %d, %s", code, errOut)
	}
	// Stale: the workflow is at revision 2 now.
	code, _, errOut = workflowsCmd(t, server, "apply", "-f", first, "--revision", "1")
	if code != 1 || !strings.Contains(errOut, "412") {
		t.Fatalf("apply with a stale revision: exit %d, %s", code, errOut)
	}
	if code, out, _ = workflowsCmd(t, server, "get", "review-pipeline"); code != 0 || !strings.Contains(out, "Revision:     2\n") || !strings.Contains(out, "1.1.0") {
		t.Fatalf("after the refused apply:\n%s", out)
	}
	if code, _, errOut = workflowsCmd(t, server, "apply"); code != 2 || !strings.Contains(errOut, "apply needs -f FILE") {
		t.Fatalf("apply without -f: exit %d, %s", code, errOut)
	}
}
