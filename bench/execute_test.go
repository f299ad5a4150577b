package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// agentEnv, when set, makes the test binary serve the no-op agent instead
// of running tests: BenchmarkExecuteLatency starts the agent as a process
// of its own, as a real agent would be, so that its work is not scheduled
// by the same Go runtime as the gateway's.
const agentEnv = "OSSA_BENCH_AGENT"

// TestMain serves the no-op agent when the binary was started as one.
func TestMain(m *testing.M) {
	if os.Getenv(agentEnv) != "" {
		serveAgentProcess()
		return
	}
	if target := os.Getenv(goProxyEnv); target != "" {
		serveGoProxyProcess(target)
		return
	}
	os.Exit(m.Run())
}

// goProxyEnv, when set to the agent's URL, makes the test binary serve Go's
// standard reverse proxy (net/http/httputil) in front of it: the floor of
// what a gateway built on net/http adds, for reference.
const goProxyEnv = "OSSA_BENCH_GOPROXY"

// serveAgentProcess serves serveNoop on a free loopback port, prints the
// port on stdout, and exits when its stdin closes, that is when the
// benchmark that started it ends or dies.
func serveAgentProcess() { serveProcess(http.HandlerFunc(serveNoop)) }

// serveGoProxyProcess serves a reverse proxy to target as serveAgentProcess
// serves the agent, with as many idle connections to it as nginx keeps.
func serveGoProxyProcess(target string) {
	u, err := url.Parse(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	proxy.Transport = t
	serveProcess(proxy)
}

func serveProcess(h http.Handler) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	go func() { _ = http.Serve(ln, h) }()
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// latencyClients are the loads compared: how many clients send requests
// at once on each path. One client shows what a hop costs on an idle
// machine; eight saturate its two CPUs, so CPU per request dominates.
var latencyClients = []int{1, 8}

// phaseRequests is how many requests each path gets before the clients
// move on to the next. Taking turns in short phases, rather than one path
// after the other, spreads the load other processes put on the machine
// evenly over the three paths.
const phaseRequests = 400

// BenchmarkExecuteLatency compares three ways to reach one no-op agent, a
// process of its own on loopback, at the same concurrency in the same run:
// directly; through nginx as a reverse proxy with upstream keep-alive; and
// through the gateway's POST /api/v1/agents/{ref}/execute: the real ossa
// binary in a process of its own, as nginx is, with its embedded SQLite
// store, no rate limiting and no access log (nginx logs none either). One op is one request on each path. It reports each
// path's p50 and p99 and the latency nginx and the gateway add to the
// direct call's. It skips when nginx is not installed.
func BenchmarkExecuteLatency(b *testing.B) {
	for _, clients := range latencyClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchmarkExecuteLatency(b, clients) })
	}
}

func benchmarkExecuteLatency(b *testing.B, clients int) {
	nginxBin, err := exec.LookPath("nginx")
	if err != nil {
		b.Skip("nginx is not on PATH: install it (apt-get install nginx) to compare the gateway with a reverse proxy")
	}
	agent := startAgentProcess(b, agentEnv+"=1")
	goproxy := startAgentProcess(b, goProxyEnv+"="+agent)
	proxy := startNginx(b, nginxBin, agent)

	gw := startGatewayProcess(b).url
	resp, err := http.Post(gw+"/api/v1/agents", "application/json",
		strings.NewReader(`{"name":"noop","type":"worker","capabilities":["noop"],"endpoint":"`+agent+`"}`))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("register the agent: %s", resp.Status)
	}

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 64, 64
	client := &http.Client{Transport: t, Timeout: 30 * time.Second}
	b.Cleanup(client.CloseIdleConnections)

	body := `{"input":{}}`
	paths := []struct {
		name string
		url  string
		lat  []time.Duration
	}{
		{name: "direct", url: agent},
		{name: "nginx", url: proxy},
		{name: "goproxy", url: goproxy},
		{name: "gateway", url: gw + "/api/v1/agents/noop/execute"},
	}
	// Warm up: open the connections of every hop and check every path.
	for i := range paths {
		if _, err := phase(client, paths[i].url, body, clients, 4*clients); err != nil {
			b.Fatalf("%s: %v", paths[i].name, err)
		}
	}

	b.ResetTimer()
	for done := 0; done < b.N; done += phaseRequests {
		n := min(phaseRequests, b.N-done)
		for i := range paths {
			lat, err := phase(client, paths[i].url, body, clients, n)
			if err != nil {
				b.Fatalf("%s: %v", paths[i].name, err)
			}
			paths[i].lat = append(paths[i].lat, lat...)
		}
	}
	b.StopTimer()

	var direct [2]float64
	for i, p := range paths {
		slices.Sort(p.lat)
		p50, p99 := percentile(p.lat, 50), percentile(p.lat, 99)
		b.ReportMetric(p50, p.name+"_p50_ms")
		b.ReportMetric(p99, p.name+"_p99_ms")
		if i == 0 {
			direct = [2]float64{p50, p99}
			continue
		}
		b.ReportMetric(p50-direct[0], p.name+"_added_p50_ms")
		b.ReportMetric(p99-direct[1], p.name+"_added_p99_ms")
	}
}

// phase sends n POSTs of body to url from clients clients at once
// and returns the latency of each.
func phase(client *http.Client, url, body string, clients, n int) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, n)
		errs = make([]error, clients)
		wg   sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, n/clients+1)
			for i := c; i < n; i += clients {
				start := time.Now()
				err := post(client, url, body)
				mine = append(mine, time.Since(start))
				if err != nil {
					errs[c] = err
					break
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat, errors.Join(errs...)
}

// post sends body to url, reads the answer to the end, so that the
// connection is reused, and fails on anything but 200.
func post(client *http.Client, url, body string) error {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, data)
	}
	return nil
}

// startAgentProcess runs this test binary again with env set (the no-op
// agent, or the Go reverse proxy) until b ends and returns its URL.
func startAgentProcess(b *testing.B, env string) string {
	b.Helper()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("the agent process did not say its port: %v", err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}

// nginxConf is a reverse proxy tuned as one would for production: a worker
// per CPU, keep-alive connections to the upstream and from clients, no
// access log (the gateway's benchmark logs nothing either).
const nginxConf = `daemon off;
worker_processes auto;
error_log {{dir}}/error.log warn;
pid {{dir}}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path {{dir}}/client_body;
  proxy_temp_path {{dir}}/proxy;
  fastcgi_temp_path {{dir}}/fastcgi;
  uwsgi_temp_path {{dir}}/uwsgi;
  scgi_temp_path {{dir}}/scgi;
  keepalive_requests 1000000;
  upstream agent {
    server {{agent}};
    keepalive 64;
  }
  server {
    listen {{listen}};
    location / {
      proxy_pass http://agent;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`

// startNginx runs nginx in front of agent until b ends, with a
// configuration and every file it writes in a temporary directory, and
// returns its URL.
func startNginx(b *testing.B, bin, agent string) string {
	b.Helper()
	dir := b.TempDir()
	listen := freePort(b)
	conf := strings.NewReplacer("{{dir}}", dir, "{{agent}}", strings.TrimPrefix(agent, "http://"),
		"{{listen}}", listen).Replace(nginxConf)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "-p", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		// SIGQUIT is nginx's graceful stop; its workers go with it.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return "http://" + listen
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("nginx does not listen on %s: %v", listen, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a loopback address no one listens on, for a server
// that cannot be handed a listener.
func freePort(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gatewayProcess is an `ossa serve` process under test.
type gatewayProcess struct {
	url string
	pid int
}

// startGatewayProcess builds cmd/ossa (see pprofEnv) and runs `ossa
// serve` on a free port with a fresh data directory and env added to its
// environment, and returns it once it is ready.
func startGatewayProcess(b *testing.B, env ...string) gatewayProcess {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "ossa")
	build := append(append([]string{"build", "-o", bin}, pprofOverlay(b, dir)...), "../cmd/ossa")
	if out, err := exec.Command("go", build...).CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freePort(b)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), "OSSA_HOST=127.0.0.1", "SERVICE_PORT="+port, "OSSA_DATA_DIR="+filepath.Join(dir, "data"),
		"API_RATE_LIMIT=0", "LOG_LEVEL=warn", "OSSA_AGENT_HEALTH_INTERVAL=0"), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return gatewayProcess{url: url, pid: cmd.Process.Pid}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the gateway at %s did not become ready: %v", url, err)
		}
	}
}

// pprofEnv, set to a loopback address, builds the gateway with
// net/http/pprof serving on it (a file added with go build -overlay; the
// source tree is untouched), for profiling it during a benchmark.
const pprofEnv = "OSSA_BENCH_PPROF"

// pprofOverlay returns the go build flags that add net/http/pprof to the
// gateway when pprofEnv is set, writing the overlay into dir; none else.
func pprofOverlay(b *testing.B, dir string) []string {
	b.Helper()
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return nil
	}
	pkg, err := filepath.Abs("../cmd/ossa")
	if err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "pprof.go")
	overlay := filepath.Join(dir, "overlay.json")
	code := "package main\n\nimport (\n\t\"net/http\"\n\t_ \"net/http/pprof\"\n\t\"os\"\n)\n\n" +
		"func init() { go func() { _ = http.ListenAndServe(os.Getenv(\"" + pprofEnv + "\"), nil) }() }\n"
	replace := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(pkg, "zz_bench_pprof.go"), src)
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(overlay, []byte(replace), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("the gateway serves net/http/pprof on http://%s/debug/pprof/", addr)
	return []string{"-overlay", overlay}
}
