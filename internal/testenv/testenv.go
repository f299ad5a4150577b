// Package testenv gives tests the URLs of the real servers they need.
//
// A test that needs PostgreSQL or Redis reads its URL from TEST_POSTGRES_URL
// or TEST_REDIS_URL. When the variable is unset the test skips and says why,
// except in CI (CI=true), where a skip would hide a missing server and so
// fails instead. .ci/run starts both servers and exports both variables.
package testenv

import (
	"os"
	"testing"
)

// PostgresURL returns TEST_POSTGRES_URL, or skips (fails in CI) without it.
func PostgresURL(t testing.TB) string { return need(t, "TEST_POSTGRES_URL", "PostgreSQL") }

// RedisURL returns TEST_REDIS_URL, or skips (fails in CI) without it.
func RedisURL(t testing.TB) string { return need(t, "TEST_REDIS_URL", "Redis") }

// CI reports whether the tests run in CI, where nothing may be skipped.
func CI() bool { return os.Getenv("CI") == "true" }

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
