package main

import (
	"encoding/json"
	"strings"
	"testing"

	ohttp "github.com/ossa-platform/platform/http"
)

// TestAuditVerb lists the audit log with `ossa audit`: a table by
// default, JSON with --output json, filtered by its flags; bad flags are
// usage errors (exit 2), and parameters the gateway refuses exit 1 with
// its problem.
func TestAuditVerb(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	call(t, "POST", server+"/api/v1/agents", `{"name":"audited","type":"worker","endpoint":"http://127.0.0.1:1"}`, 201)
	call(t, "DELETE", server+"/api/v1/agents/audited", "", 204)

	code, out, errOut := ossaCmd(server, "audit", "--action", "agent.*")
	if code != 0 || !strings.Contains(out, "ACTION") || !strings.Contains(out, "anonymous:anonymous") ||
		strings.Index(out, "agent.delete") > strings.Index(out, "agent.create") || !strings.Contains(out, "agent audited") {
		t.Errorf("audit: %d %q %q", code, out, errOut)
	}
	code, out, errOut = ossaCmd(server, "audit", "--action", "agent.create", "--since", "1h", "--namespace", "default", "--output", "json")
	var l ohttp.AuditList
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Items) != 1 || l.Items[0].Target.Name != "audited" ||
		l.Items[0].Source != "127.0.0.1" || l.Items[0].RequestID == "" {
		t.Errorf("audit --output json: %d %q %q", code, out, errOut)
	}
	code, out, _ = ossaCmd(server, "audit", "--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00Z", "--output", "json")
	if code != 0 || !strings.Contains(out, `"items": []`) {
		t.Errorf("audit of another century: %d %q", code, out)
	}
	code, _, errOut = ossaCmd(server, "audit", "--since", "yesterday")
	if code != 2 || !strings.Contains(errOut, "--since must be a time") {
		t.Errorf("audit --since yesterday: %d %q", code, errOut)
	}
	code, _, errOut = ossaCmd(server, "audit", "--outcome", "maybe")
	if code != 1 || !strings.Contains(errOut, "outcome") {
		t.Errorf("audit --outcome maybe: %d %q", code, errOut)
	}
	code, out, _ = ossaCmd(server, "audit", "-h")
	if code != 0 || !strings.Contains(out, "--principal SUBJECT") {
		t.Errorf("audit -h: %d %q", code, out)
	}
}
