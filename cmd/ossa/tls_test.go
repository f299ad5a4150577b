package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ossa-platform/platform/internal/testenv"
)

// TestServeTLS runs `ossa serve` with OSSA_TLS_CERT and OSSA_TLS_KEY: it
// serves HTTPS, with Strict-Transport-Security, and the CLI talks to it
// once it trusts the certificate's authority (--ca-file, OSSA_CA_FILE).
func TestServeTLS(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	ca.Issue(t, "gateway", certFile, keyFile)
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	exit := make(chan int, 1)
	// Authentication is on, as by default: the CLI takes the first
	// start's admin key from the data directory.
	data := t.TempDir()
	go func() {
		exit <- run(ctx, []string{"serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", data}, io.Discard, logs,
			env(map[string]string{"OSSA_TLS_CERT": certFile, "OSSA_TLS_KEY": keyFile}))
	}()
	t.Cleanup(func() {
		stop()
		if code := <-exit; code != 0 {
			t.Errorf("serve exited %d: %s", code, logs)
		}
	})
	url := listeningURL(t, logs)
	if !strings.HasPrefix(url, "https://127.0.0.1:") || !strings.Contains(logs.String(), `"tls":true`) {
		t.Fatalf("listening on %s:\n%s", url, logs)
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 10 * time.Second}
	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /healthz over https: %d %v", resp.StatusCode, resp.Header)
	}

	cli := func(vars map[string]string, args ...string) (int, string, string) {
		t.Helper()
		vars["OSSA_SERVER"], vars["OSSA_DATA_DIR"] = url, data
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut, env(vars))
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := cli(map[string]string{}, "agents", "register", "--name", "secure", "--endpoint", "http://127.0.0.1:9",
		"--ca-file", caFile); code != 0 || !strings.Contains(out, "secure") {
		t.Fatalf("register with --ca-file: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := cli(map[string]string{"OSSA_CA_FILE": caFile}, "agents", "list"); code != 0 || !strings.Contains(out, "secure") {
		t.Fatalf("list with OSSA_CA_FILE: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := cli(map[string]string{}, "agents", "list"); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("list without the authority: exit %d: %s", code, errOut)
	}
	if code, _, errOut := cli(map[string]string{}, "runs", "list", "--ca-file", certFile+".missing"); code != 1 ||
		!strings.Contains(errOut, "--ca-file") || !strings.Contains(errOut, "no such file") {
		t.Fatalf("a missing --ca-file: exit %d: %s", code, errOut)
	}
	if code, _, errOut := cli(map[string]string{"OSSA_CA_FILE": keyFile}, "workflows", "list"); code != 1 ||
		!strings.Contains(errOut, "no PEM certificate") {
		t.Fatalf("a --ca-file of no certificate: exit %d: %s", code, errOut)
	}
}

// TestServeTLSConfigErrors: a certificate without its key (or the other
// way round) stops the start naming both variables; files that do not
// load stop it naming them too, and why.
func TestServeTLSConfigErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.Issue(t, "gateway", certFile, keyFile)
	for _, tc := range []struct {
		vars     map[string]string
		code     int
		contains []string
	}{
		{map[string]string{"OSSA_TLS_CERT": certFile}, 2, []string{"OSSA_TLS_CERT", "without OSSA_TLS_KEY"}},
		{map[string]string{"OSSA_TLS_KEY": keyFile}, 2, []string{"OSSA_TLS_KEY", "without OSSA_TLS_CERT"}},
		{map[string]string{"OSSA_TLS_CERT": certFile + ".missing", "OSSA_TLS_KEY": keyFile}, 1,
			[]string{"OSSA_TLS_CERT=" + certFile + ".missing", "no such file"}},
		{map[string]string{"OSSA_TLS_CERT": keyFile, "OSSA_TLS_KEY": keyFile}, 1, []string{"OSSA_TLS_CERT", "PEM"}},
		{map[string]string{"OSSA_HSTS": "yes"}, 2, []string{"OSSA_HSTS", "auto, on or off"}},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", t.TempDir()},
			io.Discard, &stderr, env(tc.vars))
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d: %s", tc.vars, code, tc.code, stderr.String())
		}
		for _, want := range tc.contains {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("%v: stderr %q lacks %q", tc.vars, stderr.String(), want)
			}
		}
	}
}
