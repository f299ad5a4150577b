package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestConfigRunRetention checks OSSA_RUN_RETENTION: 30 days by default, 0
// to keep runs forever, and a message naming it for nonsense.
func TestConfigRunRetention(t *testing.T) {
	t.Chdir(t.TempDir())
	for v, want := range map[string]time.Duration{"": 720 * time.Hour, "0": 0, "48h": 48 * time.Hour} {
		c, err := LoadConfig(nil, env(map[string]string{"OSSA_RUN_RETENTION": v}), io.Discard)
		if err != nil || c.RunRetention != want {
			t.Errorf("OSSA_RUN_RETENTION=%q: %v, %v; want %v", v, c.RunRetention, err, want)
		}
	}
	c, err := LoadConfig([]string{"--run-retention", "1h"}, env(nil), io.Discard)
	if err != nil || c.RunRetention != time.Hour {
		t.Errorf("--run-retention 1h: %v, %v", c.RunRetention, err)
	}
	for _, v := range []string{"-1h", "soon", "0s"} {
		_, err := LoadConfig(nil, env(map[string]string{"OSSA_RUN_RETENTION": v}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "OSSA_RUN_RETENTION") {
			t.Errorf("OSSA_RUN_RETENTION=%q: error %v does not name it", v, err)
		}
	}
}

// TestConfigAuditRetention checks OSSA_AUDIT_RETENTION: 90 days by
// default, 0 to keep audit records forever, and a message naming it for
// nonsense.
func TestConfigAuditRetention(t *testing.T) {
	t.Chdir(t.TempDir())
	for v, want := range map[string]time.Duration{"": 2160 * time.Hour, "0": 0, "8760h": 8760 * time.Hour} {
		c, err := LoadConfig(nil, env(map[string]string{"OSSA_AUDIT_RETENTION": v}), io.Discard)
		if err != nil || c.AuditRetention != want {
			t.Errorf("OSSA_AUDIT_RETENTION=%q: %v, %v; want %v", v, c.AuditRetention, err, want)
		}
	}
	c, err := LoadConfig([]string{"--audit-retention", "1h"}, env(nil), io.Discard)
	if err != nil || c.AuditRetention != time.Hour {
		t.Errorf("--audit-retention 1h: %v, %v", c.AuditRetention, err)
	}
	for _, v := range []string{"-1h", "forever", "0s"} {
		_, err := LoadConfig(nil, env(map[string]string{"OSSA_AUDIT_RETENTION": v}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "OSSA_AUDIT_RETENTION") {
			t.Errorf("OSSA_AUDIT_RETENTION=%q: error %v does not name it", v, err)
		}
	}
}
