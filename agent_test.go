package platform_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
)

func TestAgentValidate(t *testing.T) {
	valid := func() *platform.Agent {
		a := &platform.Agent{Name: "summarizer", Type: platform.AgentWorker, Capabilities: []string{"summarize"}, Endpoint: "https://x.example/a"}
		a.Normalize()
		return a
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid agent: %v", err)
	}
	tests := []struct {
		field  string
		change func(a *platform.Agent)
	}{
		{"/name", func(a *platform.Agent) { a.Name = "" }},
		{"/name", func(a *platform.Agent) { a.Name = "-leading" }},
		{"/name", func(a *platform.Agent) { a.Name = strings.Repeat("a", 64) }},
		{"/name", func(a *platform.Agent) { a.Name = "UPPER" }},
		{"/name", func(a *platform.Agent) { a.Name = "0190b1b2-0000-7000-8000-000000000000" }},
		{"/type", func(a *platform.Agent) { a.Type = "boss" }},
		{"/status", func(a *platform.Agent) { a.Status = "sleeping" }},
		{"/capabilities/1", func(a *platform.Agent) { a.Capabilities = []string{"a", ""} }},
		{"/capabilities/1", func(a *platform.Agent) { a.Capabilities = []string{"a", "a"} }},
		{"/capabilities/0", func(a *platform.Agent) { a.Capabilities = []string{"has space"} }},
		{"/endpoint", func(a *platform.Agent) { a.Endpoint = "ftp://x" }},
		{"/endpoint", func(a *platform.Agent) { a.Endpoint = "/relative" }},
		{"/endpoint", func(a *platform.Agent) { a.Endpoint = "http://user:pw@x" }},
		{"/labels/bad key", func(a *platform.Agent) { a.Labels = map[string]string{"bad key": "v"} }},
		{"/labels/a~1b", func(a *platform.Agent) { a.Labels = map[string]string{"a/b": "bad value"} }},
		{"/metadata", func(a *platform.Agent) { a.Metadata = json.RawMessage(`[1]`) }},
		{"/description", func(a *platform.Agent) { a.Description = strings.Repeat("d", platform.MaxDescriptionLen+1) }},
	}
	for _, tt := range tests {
		a := valid()
		tt.change(a)
		err := a.Validate()
		var e *platform.Error
		if err == nil || platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("%s: error %v, want invalid", tt.field, err)
			continue
		}
		e = err.(*platform.Error)
		if len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
			t.Errorf("%s: fields %+v", tt.field, e.Fields)
		}
	}
	// Every problem is reported, not just the first.
	a := valid()
	a.Name, a.Type, a.Endpoint = "", "", "x"
	if err := a.Validate().(*platform.Error); len(err.Fields) != 3 {
		t.Fatalf("fields = %+v, want 3", err.Fields)
	}
}
