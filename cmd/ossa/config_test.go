package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no .env here
	c, err := LoadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3100 || c.DataDir != "./data" || c.RateLimit != 1000 || c.LogLevel != "info" ||
		c.PostgresMaxConns != 20 || c.PostgresIdleTimeout != 30*time.Second || c.PostgresConnectTimeout != 2*time.Second ||
		c.MaxBodyBytes != 1<<20 || c.PostgresURL != "" || c.RedisURL != "" || c.CORSOrigins != nil {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	dotenv := "SERVICE_PORT=4000\nLOG_LEVEL=debug\nAPI_RATE_LIMIT=10\nCORS_ORIGIN=http://localhost:3000, https://ui.example\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig([]string{"--rate-limit", "7"}, env(map[string]string{"LOG_LEVEL": "warn", "API_RATE_LIMIT": "20"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// .env < environment < flags.
	if c.Port != 4000 || c.LogLevel != "warn" || c.RateLimit != 7 ||
		strings.Join(c.CORSOrigins, " ") != "http://localhost:3000 https://ui.example" {
		t.Fatalf("precedence: %+v", c)
	}
}

func TestConfigInvalid(t *testing.T) {
	t.Chdir(t.TempDir())
	for name, vars := range map[string]map[string]string{
		"SERVICE_PORT":          {"SERVICE_PORT": "http"},
		"POSTGRES_URL":          {"POSTGRES_URL": "mysql://x"},
		"REDIS_URL":             {"REDIS_URL": "localhost:6379"},
		"LOG_LEVEL":             {"LOG_LEVEL": "loud"},
		"API_RATE_LIMIT":        {"API_RATE_LIMIT": "-1"},
		"CORS_ORIGIN":           {"CORS_ORIGIN": "localhost"},
		"POSTGRES_IDLE_TIMEOUT": {"POSTGRES_IDLE_TIMEOUT": "30"},
		"OSSA_TRUSTED_PROXIES":  {"OSSA_TRUSTED_PROXIES": "10.0.0.1"},
	} {
		_, err := LoadConfig(nil, env(vars), io.Discard)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v does not name %s", vars, err, name)
		}
	}
	if _, err := LoadConfig([]string{"--env-file", "missing.env"}, env(nil), io.Discard); err == nil {
		t.Error("a named .env file that is missing is not an error")
	}
}
