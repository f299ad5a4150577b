package main

import (
	"strings"
	"testing"
)

// TestEventsCount checks that `ossa events --count N` exits by itself
// after N events: replayed ones first, then live ones.
func TestEventsCount(t *testing.T) {
	t.Parallel()
	server := startAgentsGateway(t)
	for _, name := range []string{"a1", "a2", "a3"} {
		call(t, "POST", server+"/api/v1/agents", `{"name":"`+name+`","type":"worker","endpoint":"http://127.0.0.1:1"}`, 201)
	}

	code, out, errOut := ossaCmd(server, "events", "--channel", "agent-events", "--since", "0", "--count", "2")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || errOut != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "1 ") || !strings.Contains(lines[0], "agent=a1") ||
		!strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[1], "agent=a2") {
		t.Fatalf("--since 0 --count 2: exit %d, stderr %q:\n%s", code, errOut, out)
	}

	// After the replay (nothing after event 3), live events count.
	type result struct {
		code        int
		out, errOut string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := ossaCmd(server, "events", "--since", "3", "--count", "1", "--output", "json")
		done <- result{code, out, errOut}
	}()
	call(t, "POST", server+"/api/v1/agents", `{"name":"a4","type":"worker","endpoint":"http://127.0.0.1:1"}`, 201)
	r := <-done
	if r.code != 0 || r.errOut != "" || strings.Count(r.out, "\n") != 1 || !strings.HasPrefix(r.out, `{"id":4,`) || !strings.Contains(r.out, `"name":"a4"`) {
		t.Fatalf("--since 3 --count 1: exit %d, stderr %q:\n%s", r.code, r.errOut, r.out)
	}

	code, _, errOut = ossaCmd("http://127.0.0.1:1", "events", "--count", "-1")
	if code != 2 || !strings.Contains(errOut, "--count must be 0 (follow until interrupted) or more, not -1") {
		t.Fatalf("--count -1: exit %d, stderr %q", code, errOut)
	}
	if code, out, _ := ossaCmd("http://127.0.0.1:1", "events", "--help"); code != 0 || !strings.Contains(out, "-count N") {
		t.Fatalf("events --help: exit %d:\n%s", code, out)
	}
}
