package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigRedisPrefix(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := LoadConfig(nil, env(nil), io.Discard)
	if err != nil || c.RedisPrefix != "" {
		t.Fatalf("default: %q, %v", c.RedisPrefix, err)
	}
	c, err = LoadConfig([]string{"--redis-prefix", "team-a:"}, env(nil), io.Discard)
	if err != nil || c.RedisPrefix != "team-a:" {
		t.Fatalf("--redis-prefix: %q, %v", c.RedisPrefix, err)
	}
	for bad, why := range map[string]string{
		"team a:":               "spaces",
		"team-a:\x01":           "control",
		"team-*:":               "glob",
		strings.Repeat("x", 65): "at most 64",
	} {
		_, err := LoadConfig(nil, env(map[string]string{"OSSA_REDIS_PREFIX": bad}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "OSSA_REDIS_PREFIX") || !strings.Contains(err.Error(), why) {
			t.Errorf("OSSA_REDIS_PREFIX=%q: %v, want an error naming the variable and saying %q", bad, err, why)
		}
	}
}

// TestConfigEventChannelRetired: OSSA_EVENT_CHANNEL, which the prefix
// replaced, stops the start instead of being ignored, and says what to set.
func TestConfigEventChannelRetired(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	_, err := LoadConfig(nil, env(map[string]string{"OSSA_EVENT_CHANNEL": "team-a:events"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `OSSA_EVENT_CHANNEL="team-a:events" (from environment) is no longer read`) ||
		!strings.Contains(err.Error(), "OSSA_REDIS_PREFIX=team-a: keeps the channel team-a:events") {
		t.Fatalf("OSSA_EVENT_CHANNEL in the environment: %v", err)
	}
	_, err = LoadConfig(nil, env(map[string]string{"OSSA_EVENT_CHANNEL": "bus"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "OSSA_REDIS_PREFIX replaced it") || strings.Contains(err.Error(), "keeps") {
		t.Fatalf("OSSA_EVENT_CHANNEL=bus: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("OSSA_EVENT_CHANNEL=ossa:events\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(nil, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "(from .env)") || !strings.Contains(err.Error(), "OSSA_REDIS_PREFIX=ossa: keeps the channel ossa:events") {
		t.Fatalf("OSSA_EVENT_CHANNEL in .env: %v", err)
	}
	if _, err := LoadConfig([]string{"--event-channel", "x"}, env(nil), io.Discard); err == nil {
		t.Fatal("--event-channel is accepted")
	}
}
