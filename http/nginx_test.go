package http_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ossa-platform/platform"
	ohttp "github.com/ossa-platform/platform/http"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/ossatest"
)

// TestBehindNginx runs the nginx configuration of docs/operations.md, as it
// stands there, with a real nginx in front of two real gateways, and
// proves what the page promises: requests pass, a browser's WebSocket
// from the proxy's own origin upgrades and gets events, an SSE stream
// flows as events happen, and rate limits are per client, with forged
// X-Forwarded-For and X-Real-IP headers worth nothing.
func TestBehindNginx(t *testing.T) {
	nginx := testenv.Need(t, "nginx")
	doc := operationsNginx(t)

	const limit = 60
	// The in-memory limiter counts per process: one shared by both
	// gateways makes the count cover every request, whichever gateway
	// nginx picks, so the test sees each client's whole allowance.
	limiter := inmem.NewRateLimiter(limit)
	dir := t.TempDir()
	var upstreams []string
	for range 2 {
		srv := ossatest.Start(t, ossatest.WithStore(ossatest.SQLiteAt(t, dir)), ossatest.WithGateway(func(s *ohttp.Server) {
			s.Limiter = limiter
			s.TrustedProxies = doc.trusted
		})).Gateway
		upstreams = append(upstreams, strings.TrimPrefix(srv.URL(), "http://"))
	}
	proxy := startNginx(t, nginx, doc.config, upstreams)
	base := "http://" + proxy

	// A request and a registration pass.
	resp, b := send(t, "GET", base+"/health", "", nil)
	var h ohttp.Health
	mustUnmarshal(t, b, &h)
	if resp.StatusCode != http.StatusOK || h.Services["sqlite"] != "connected" {
		t.Fatalf("GET /health through nginx: %d %s", resp.StatusCode, b)
	}

	// A browser's WebSocket from a page of the proxy's host and port.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+proxy+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatalf("WebSocket through nginx: %v (%+v)", err, resp)
	}
	ws := &wsClient{c: c}
	t.Cleanup(func() { c.CloseNow() })
	ws.send(t, `{"type":"subscribe","channel":"agent-events"}`)
	ws.expect(t, "subscribed", "agent-events")

	// An SSE stream, open before the change it reports.
	next := sseThrough(t, base+"/api/v1/events?channels=agent-events")

	if resp, b := send(t, "POST", base+"/api/v1/agents", "application/json", []byte(agentBody("proxied"))); resp.StatusCode != http.StatusCreated {
		t.Fatalf("register through nginx: %d %s", resp.StatusCode, b)
	}
	for _, e := range []*platform.Event{ws.expect(t, "event", "agent-events").Event, next()} {
		if e.Type != platform.EventAgentRegistered {
			t.Fatalf("event %+v, want agent.registered", e)
		}
	}

	// Rate limits: each client its own bucket, forged headers or not.
	forger := clientFrom(t, "127.0.0.2")
	start := time.Now()
	passed := 0
	for range 150 {
		forged := fmt.Sprintf("198.51.100.%d", rand.IntN(250)+1)
		if code := get(t, forger, base+"/api/v1/agents", "X-Forwarded-For", forged, "X-Real-IP", forged); code == http.StatusOK {
			passed++
		} else if code != http.StatusTooManyRequests {
			t.Fatalf("forger: status %d", code)
		}
	}
	// The bucket refills one token a second.
	if most := limit + int(time.Since(start).Seconds()); passed < limit || passed > most {
		t.Fatalf("%d of 150 requests with forged headers passed, want %d (at most %d)", passed, limit, most)
	}
	t.Logf("%d of 150 requests with forged headers passed a limit of %d in %s", passed, limit, time.Since(start))
	if code := get(t, clientFrom(t, "127.0.0.3"), base+"/api/v1/agents"); code != http.StatusOK {
		t.Fatalf("another client, after the forger used its allowance: %d", code)
	}
	if code := get(t, forger, base+"/api/v1/agents"); code != http.StatusTooManyRequests {
		t.Fatalf("the forger without forged headers: %d", code)
	}
}

// nginxDoc is the nginx section of docs/operations.md.
type nginxDoc struct {
	// config is the nginx block that follows the marker.
	config string
	// trusted is what the section says to set OSSA_TRUSTED_PROXIES to.
	trusted []netip.Prefix
}

// operationsNginx reads the nginx block and OSSA_TRUSTED_PROXIES from
// docs/operations.md.
func operationsNginx(t *testing.T) nginxDoc {
	t.Helper()
	const path = "../docs/operations.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	const marker = "<!-- nginx.conf: tested by http/nginx_test.go -->\n```nginx\n"
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("%s lacks %q", path, marker)
	}
	rest := doc[i+len(marker):]
	j := strings.Index(rest, "```")
	if j < 0 {
		t.Fatalf("%s: the nginx block does not end", path)
	}
	out := nginxDoc{config: rest[:j]}
	m := regexp.MustCompile("OSSA_TRUSTED_PROXIES=([^`\\s]+)").FindStringSubmatch(rest[j:])
	if m == nil {
		t.Fatalf("%s: no OSSA_TRUSTED_PROXIES=... after the nginx block", path)
	}
	for _, cidr := range strings.Split(m[1], ",") {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Fatalf("%s: OSSA_TRUSTED_PROXIES: %v", path, err)
		}
		out.trusted = append(out.trusted, p)
	}
	return out
}

// startNginx runs nginx with config, whose upstream servers become
// upstreams and whose listen becomes a free loopback port, as the test's
// user under a temporary prefix, until the test ends. It returns the
// proxy's host:port.
func startNginx(t *testing.T, nginx, config string, upstreams []string) string {
	t.Helper()
	servers := regexp.MustCompile(`(?m)^(\s*)server localhost:\d+[^;]*;\n`)
	if len(servers.FindAllString(config, -1)) < 2 {
		t.Fatal("the documented upstream lists fewer than two gateways")
	}
	first := true
	config = servers.ReplaceAllStringFunc(config, func(line string) string {
		if !first {
			return ""
		}
		first = false
		indent := servers.FindStringSubmatch(line)[1]
		var b strings.Builder
		for _, u := range upstreams {
			fmt.Fprintf(&b, "%sserver %s;\n", indent, u)
		}
		return b.String()
	})
	addr := freeAddr(t)
	listen := regexp.MustCompile(`(?m)^(\s*)listen 80;$`)
	if !listen.MatchString(config) {
		t.Fatal("the documented server does not listen on port 80")
	}
	config = listen.ReplaceAllString(config, "${1}listen "+addr+";")

	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // else the workers run as nobody, who may not enter dir
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s
}
`, user, dir, config)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}
	if out, err := exec.Command(nginx, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, main)
	}
	cmd := exec.Command(nginx, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: the master stops its workers
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	// nginx has no readiness signal: wait until it accepts connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return addr
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept connections on %s: %v", addr, err)
		}
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// clientFrom is an HTTP client whose connections come from ip, one of
// 127/8, which Linux routes to loopback: another client to the proxy.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends a GET with headers (name, value, ...) and returns its status.
func get(t *testing.T, c *http.Client, url string, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sseThrough opens an SSE stream at url and returns a function that reads
// its next event, failing the test when none comes within 15 s.
func sseThrough(t *testing.T, url string) func() *platform.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	data := make(chan string)
	go func() {
		defer close(data)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				select {
				case data <- line:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return func() *platform.Event {
		t.Helper()
		select {
		case line, ok := <-data:
			if !ok {
				t.Fatal("the SSE stream ended")
			}
			var e platform.Event
			mustUnmarshal(t, []byte(line), &e)
			return &e
		case <-time.After(15 * time.Second):
			t.Fatal("no SSE event within 15 s: is the stream buffered?")
			return nil
		}
	}
}
