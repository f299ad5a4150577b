// Package testenv gives tests the URLs of the real servers, and the programs, they need.
//
// A test that needs PostgreSQL or Redis reads its URL from TEST_POSTGRES_URL
// or TEST_REDIS_URL, and one that runs a program (nginx) finds it on PATH.
// When the variable is unset or the program missing, the test skips and says
// why, except in CI (CI=true), where a skip would hide a missing server and so
// fails instead. .ci/run starts both servers, exports both variables and
// installs the programs.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresURL returns TEST_POSTGRES_URL, or skips (fails in CI) without it.
func PostgresURL(t testing.TB) string { return need(t, "TEST_POSTGRES_URL", "PostgreSQL") }

// RedisURL returns TEST_REDIS_URL, or skips (fails in CI) without it.
func RedisURL(t testing.TB) string { return need(t, "TEST_REDIS_URL", "Redis") }

// Need returns the path of the program a test runs, such as nginx, or
// skips (fails in CI) when it is not on PATH.
func Need(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	if CI() {
		t.Fatalf("%s is not on PATH: CI must run the tests that need it (.ci/run installs it)", program)
	}
	t.Skipf("%s is not on PATH: install it to run this test (see .ci/run)", program)
	return ""
}

// CI reports whether the tests run in CI, where nothing may be skipped.
func CI() bool { return os.Getenv("CI") == "true" }

// Skipf skips t, saying why, except in CI, where a skip would hide what
// the test should have checked, so t fails instead.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format+" (in CI, CI=true, a test that would skip fails)", args...)
	}
	t.Skipf(format, args...)
}

func need(t testing.TB, name, what string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if CI() {
		t.Fatalf("%s is unset: CI must run the %s tests (.ci/run exports it)", name, what)
	}
	t.Skipf("%s is unset: set it to a %s URL to run this test (see .ci/run)", name, what)
	return ""
}

// PostgresSchema creates an empty schema of a random name on the test
// database and drops it, with everything in it, when t ends, so tests run in
// parallel on one database. It returns the database URL, the schema, and
// the URL that puts the schema first on the search path.
func PostgresSchema(t testing.TB) (url, schema, schemaURL string) {
	t.Helper()
	url = PostgresURL(t)
	schema = "test_" + RandomName()
	ident := pgx.Identifier{schema}.Sanitize()
	PostgresExec(t, url, "CREATE SCHEMA "+ident)
	t.Cleanup(func() { PostgresExec(t, url, "DROP SCHEMA "+ident+" CASCADE") })
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url, schema, url + sep + "search_path=" + schema
}

// RandomName is 16 random hex digits, for names tests must not share.
func RandomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PostgresExec runs sql on a connection of its own, outside any store.
func PostgresExec(t testing.TB, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
