package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestVerbHelp: -h prints a verb's written help on standard output and
// exits 0, for the verbs that have one.
func TestVerbHelp(t *testing.T) {
	t.Parallel()
	for verb, want := range map[string]string{
		"events":  "--count N            exit after N events",
		"run":     "--param KEY=VALUE    a parameter",
		"execute": "Calls one agent (REF: its ID or name)",
		"serve":   "Runs the gateway.",
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{verb, "-h"}, &out, &errOut, env(nil))
		if code != 0 || !strings.Contains(out.String()+errOut.String(), want) {
			t.Errorf("ossa %s -h: exit %d, stdout %q, stderr %q; want %q", verb, code, out.String(), errOut.String(), want)
		}
	}
}
