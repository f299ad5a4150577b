package invoke_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/invoke"
)

// TestDeepOutputIsPermanentFailure: an agent whose output nests beyond
// MaxOutputDepth fails its call for good, so a run never tries to store
// what its database would refuse (SQLite's JSON functions stop at 1,000
// levels), while an output at the bound passes.
func TestDeepOutputIsPermanentFailure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{invoke.MaxOutputDepth, true}, {invoke.MaxOutputDepth + 1, false}, {5000, false}} {
		// The output is what {"output": ...} holds.
		body := `{"output":` + strings.Repeat("[", tt.depth) + strings.Repeat("]", tt.depth) + `}`
		a, _ := agentAt(t, platform.ProtocolHTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		}))
		_, err := invoke.New().Invoke(context.Background(), a, testInvocation())
		if tt.ok {
			if err != nil {
				t.Errorf("depth %d: %v", tt.depth, err)
			}
			continue
		}
		ie := invocationError(t, err)
		if ie.Retryable || !strings.Contains(ie.Message, "nest deeper than") {
			t.Errorf("depth %d: %+v, want a permanent failure about nesting", tt.depth, ie)
		}
	}
}
