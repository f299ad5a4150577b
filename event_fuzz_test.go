package platform_test

import (
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
)

// FuzzParseChannels checks that any channel list parses or is refused
// with EINVALID, and that what parses names itself back and matches
// consistently.
func FuzzParseChannels(f *testing.F) {
	for _, s := range []string{"", "*", "agent-events", "run:0190b1b2-0000-7000-8000-000000000001,agent:scout",
		"agent:", "run:", "run:x", "workflow-events, run-events", ",,", "agent:a,b"} {
		f.Add(s)
	}
	events := []platform.Event{
		{Type: platform.EventAgentRegistered, Agent: "scout"},
		{Type: platform.EventStepStarted, Agent: "scout", RunID: "0190b1b2-0000-7000-8000-000000000001"},
		{Type: platform.EventWorkflowCreated},
	}
	f.Fuzz(func(t *testing.T, list string) {
		cs, err := platform.ParseChannels(list)
		if err != nil {
			if platform.ErrorCode(err) != platform.EINVALID || platform.ErrorMessage(err) == "" {
				t.Fatalf("ParseChannels(%q) error %v", list, err)
			}
			return
		}
		if len(cs) == 0 {
			t.Fatalf("ParseChannels(%q) gave no channel", list)
		}
		for _, c := range cs {
			if strings.TrimSpace(list) != "" && !strings.Contains(list, c.String()) {
				t.Fatalf("channel %q is not in %q", c.String(), list)
			}
			for i := range events {
				e := &events[i]
				if c.All() && !c.Match(e) {
					t.Fatalf("%q does not match %s", c.String(), e.Type)
				}
				if c.Match(e) && !platform.MatchAny(cs, e) {
					t.Fatalf("MatchAny disagrees with %q on %s", c.String(), e.Type)
				}
			}
		}
	})
}
