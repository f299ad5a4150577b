package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validateCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"validate"}, args...), &out, &errb, env(nil))
	return code, out.String(), errb.String()
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidateCLI(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"future.yaml":         "apiVersion: ossa/v9.0\nkind: Agent\nmetadata: {name: a}\n",
		"broken.yaml":         "kind: Agent\nspec: [unclosed\n",
		"nested/notes.yaml":   "title: not a manifest\n", // skipped in a directory walk
		"nested/dup-key.yaml": "apiVersion: ossa/v9.0\nkind: Agent\nkind: Agent\n",
	})
	code, out, errOut := validateCmd(t, dir)
	if code != 1 {
		t.Fatalf("exit %d; stdout %s; stderr %s", code, out, errOut)
	}
	for _, want := range []string{
		filepath.Join(dir, "future.yaml") + ":1:13: error: apiVersion \"ossa/v9.0\" (kind \"Agent\") is not supported",
		filepath.Join(dir, "broken.yaml") + ":1:1: error: did not find expected",
		filepath.Join(dir, "nested/dup-key.yaml") + ":3:1: error: duplicate key \"kind\" (first at 2:1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "notes.yaml") {
		t.Errorf("a file without apiVersion or kind was validated:\n%s", out)
	}
	if !strings.Contains(errOut, "3 documents, ") {
		t.Errorf("summary: %q", errOut)
	}

	code, out, _ = validateCmd(t, "--format", "json", filepath.Join(dir, "future.yaml"))
	var reports []fileReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil || code != 1 || len(reports) != 1 || reports[0].Valid ||
		reports[0].Diagnostics[0].Code != "unsupported-version" || len(reports[0].Diagnostics[0].Allowed) == 0 {
		t.Fatalf("json: exit %d, %s", code, out)
	}

	if code, _, _ := validateCmd(t); code != 2 {
		t.Fatalf("no arguments: exit %d, want 2", code)
	}
	if code, _, _ := validateCmd(t, "--format", "xml", dir); code != 2 {
		t.Fatalf("bad format: exit %d, want 2", code)
	}
	if code, _, errOut := validateCmd(t, filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Fatalf("missing file: exit %d, %s", code, errOut)
	}
}
