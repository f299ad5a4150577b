package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestListensOnLoopbackByDefault checks that the gateway listens on the
// loopback addresses only unless told otherwise, and that its log says
// where.
func TestListensOnLoopbackByDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := LoadConfig([]string{"--port", "0", "--data-dir", t.TempDir()}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "localhost" {
		t.Fatalf("default OSSA_HOST = %q, want localhost", c.Host)
	}
	logs := &syncBuffer{}
	m := NewMain(c, logs)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })

	port := m.Server.Addrs()[0].(*net.TCPAddr).Port
	var has4 bool
	for _, a := range m.Server.Addrs() {
		ip := a.(*net.TCPAddr).IP
		if !ip.IsLoopback() || a.(*net.TCPAddr).Port != port {
			t.Fatalf("listens on %s, want loopback addresses on one port", a)
		}
		has4 = has4 || ip.Equal(net.IPv4(127, 0, 0, 1))
	}
	if !has4 {
		t.Fatalf("does not listen on 127.0.0.1: %v", m.Server.Addrs())
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(port); m.Server.URL() != want {
		t.Fatalf("URL = %s, want %s", m.Server.URL(), want)
	}
	// localhost reaches it, whichever address it resolves to first.
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("localhost", strconv.Itoa(port)), 5*time.Second); err != nil {
		t.Fatalf("dial localhost: %v", err)
	} else {
		conn.Close()
	}
	// An address of this machine beyond loopback does not.
	if ip := externalIP(t); ip != nil {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)), 5*time.Second)
		if err == nil {
			conn.Close()
			t.Fatalf("the gateway answers on %s", ip)
		}
	}
	line := logLine(t, logs.String(), "gateway listening")
	addrs, _ := line["addresses"].([]any)
	if line["url"] != m.Server.URL() || len(addrs) != len(m.Server.Addrs()) || addrs[0] != m.Server.Addrs()[0].String() {
		t.Fatalf("startup line %v, want url %s and addresses %v", line, m.Server.URL(), m.Server.Addrs())
	}
	if strings.Contains(logs.String(), "no authentication") {
		t.Fatalf("a warning while listening on loopback: %s", logs.String())
	}
}

// TestAuthNoneStaysOnLoopback checks that a gateway without authentication
// refuses to listen beyond loopback unless told twice, and then warns; with
// authentication (the default) it listens where it is told.
func TestAuthNoneStaysOnLoopback(t *testing.T) {
	c := newConfig(t) // OSSA_AUTH=none
	c.Host = "0.0.0.0"
	m := NewMain(c, io.Discard)
	err := m.Open(context.Background())
	m.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "OSSA_AUTH_NONE_EXPOSE=true") || !strings.Contains(err.Error(), "OSSA_HOST") {
		t.Fatalf("OSSA_AUTH=none on 0.0.0.0 opened: %v", err)
	}

	c.AuthNoneExpose = true
	logs := &syncBuffer{}
	m = NewMain(c, logs)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	line := logLine(t, logs.String(), "the gateway listens beyond this machine")
	if line["level"] != "WARN" || !strings.Contains(line["msg"].(string), "no authentication") {
		t.Fatalf("warning = %v", line)
	}
	if !strings.HasPrefix(m.Server.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %s, want one usable on this machine", m.Server.URL())
	}

	c = newConfig(t)
	c.Host, c.Auth = "0.0.0.0", "keys"
	logs = &syncBuffer{}
	m2 := NewMain(c, logs)
	if err := m2.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Close(context.Background()) })
	if strings.Contains(logs.String(), "no authentication") {
		t.Fatalf("a warning with authentication on: %s", logs.String())
	}
}

// logLine returns the first JSON log line whose message starts with msg.
func logLine(t *testing.T, logs, msg string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) == nil && strings.HasPrefix(line["msg"].(string), msg) {
			return line
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return nil
}

// externalIP is an IPv4 address of this machine beyond loopback, or nil.
func externalIP(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	t.Log("no address beyond loopback to try")
	return nil
}
