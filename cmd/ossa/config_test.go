package main

import (
	"fmt"
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

func TestConfigAgentNetworksAndSecretKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := LoadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AgentNetworks.String() != "loopback,private,public" || c.SecretKey != nil || c.SecretKeysPrevious != nil {
		t.Fatalf("defaults: networks %q, key set %v", c.AgentNetworks, c.SecretKey != nil)
	}
	const key = "qnLrFNhDMpEnSi6TNN5eRH4o11Gy1o6Mhzkh5gxMj6A="
	const old = "x7n0bZ6PcWkQe2m1Zr1Yc5yq9d0n9x1E3bQ0m2l8u4s="
	c, err = LoadConfig([]string{"--agent-networks", "10.244.0.0/16, public"},
		env(map[string]string{"OSSA_SECRET_KEY": key, "OSSA_SECRET_KEY_PREVIOUS": old + "," + key}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AgentNetworks.String() != "10.244.0.0/16,public" || len(c.SecretKey) != 32 || len(c.SecretKeysPrevious) != 2 {
		t.Fatalf("set: %q, %d, %d", c.AgentNetworks, len(c.SecretKey), len(c.SecretKeysPrevious))
	}
	// A Config printed whole shows no key.
	bytesShown := fmt.Sprintf("[%d %d %d", c.SecretKey[0], c.SecretKey[1], c.SecretKey[2])
	for _, s := range []string{fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c)} {
		if strings.Contains(s, "qnLrFN") || strings.Contains(s, bytesShown) || strings.Contains(s, "0xaa, 0x72") || !strings.Contains(s, "[redacted]") {
			t.Fatalf("a printed Config shows a key: %s", s)
		}
	}
	for vars, want := range map[string]string{
		"OSSA_AGENT_NETWORKS=169.254.0.0/16":       "invalid OSSA_AGENT_NETWORKS=\"169.254.0.0/16\" (from environment): 169.254.0.0/16 is a link-local address",
		"OSSA_AGENT_NETWORKS=10.0.0.0/33":          "invalid OSSA_AGENT_NETWORKS",
		"OSSA_AGENT_NETWORKS=,":                    "invalid OSSA_AGENT_NETWORKS=\",\" (from environment): names no network",
		"OSSA_SECRET_KEY=c2VjcmV0LWJ1dC1zaG9ydA==": "invalid OSSA_SECRET_KEY (from environment): must be 32 bytes in base64, not 16 bytes",
		"OSSA_SECRET_KEY=not base64":               "invalid OSSA_SECRET_KEY (from environment): must be 32 bytes in base64",
		"OSSA_SECRET_KEY_PREVIOUS=" + key:          "OSSA_SECRET_KEY_PREVIOUS is set but OSSA_SECRET_KEY is not",
	} {
		k, v, _ := strings.Cut(vars, "=")
		vals := map[string]string{k: v}
		if k == "OSSA_SECRET_KEY" {
			vals["OSSA_SECRET_KEY_PREVIOUS"] = ""
		}
		_, err := LoadConfig(nil, env(vals), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", vars, err, want)
		}
		if err != nil && k != "OSSA_AGENT_NETWORKS" && strings.Contains(err.Error(), v) {
			t.Errorf("%s: the error quotes the key: %v", vars, err)
		}
	}
}
