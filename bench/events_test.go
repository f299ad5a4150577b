//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ossa-platform/platform/sqlite"
)

// The fan-out benchmark's load, from the issue: fanoutClients WebSocket
// subscribers on one channel while fanoutRate events a second are published
// for fanoutDuration. OSSA_BENCH_FANOUT_CLIENTS, OSSA_BENCH_FANOUT_RATE,
// OSSA_BENCH_FANOUT_SECONDS and OSSA_BENCH_FANOUT_DRAIN (seconds) change
// them, to find what the gateway sustains.
const (
	fanoutClients  = 1000
	fanoutRate     = 1000 // events per second, one event per Redis message
	fanoutDuration = 10 * time.Second
	// fanoutWarmup is how long events are published, at the rate, before
	// the measured ones, so that what is measured is the steady state:
	// the first events find the gateway's buffers, goroutine stacks and
	// threads, and the kernel's socket buffers, not yet grown to the load.
	// The benchmark logs this second's latency apart.
	fanoutWarmup = time.Second
	// fanoutDrain is how long the clients get, after the last event was
	// published, to receive everything before the benchmark fails.
	fanoutDrain = 60 * time.Second
)

// fanoutPrefix is the Redis prefix of the benchmark's gateway
// (OSSA_REDIS_PREFIX), its own so that no other gateway on the same Redis
// publishes on its event channel, fanoutChannel.
var fanoutPrefix = "ossa-bench:" + randomHex() + ":"

var fanoutChannel = fanoutPrefix + "events"

// fanoutLoad is one run's load.
type fanoutLoad struct {
	clients, rate, events int
	// warmup is how many events are published, at the rate, before the
	// measured ones.
	warmup int
	drain  time.Duration
}

func fanoutLoadFromEnv(b *testing.B) fanoutLoad {
	b.Helper()
	get := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	l := fanoutLoad{
		clients: get("OSSA_BENCH_FANOUT_CLIENTS", fanoutClients),
		rate:    get("OSSA_BENCH_FANOUT_RATE", fanoutRate),
		drain:   time.Duration(get("OSSA_BENCH_FANOUT_DRAIN", int(fanoutDrain/time.Second))) * time.Second,
	}
	l.events = get("OSSA_BENCH_FANOUT_SECONDS", int(fanoutDuration/time.Second)) * l.rate
	if v := os.Getenv("OSSA_BENCH_FANOUT_WARMUP"); v != "0" {
		l.warmup = get("OSSA_BENCH_FANOUT_WARMUP", int(fanoutWarmup/time.Second)) * l.rate
	}
	return l
}

// BenchmarkEventFanout measures live event delivery: fanoutClients
// WebSocket clients subscribed to agent-events on the real gateway (the ossa
// binary, in a process of its own, with REDIS_URL set and embedded SQLite),
// while this process commits fanoutRate agent.updated events a second to
// the gateway's database and publishes each on the gateway's Redis channel,
// in a message of its own, as another replica would. Every event carries its publish time; a delivery's latency is
// its receive time minus that (one machine, one clock). Beside the gateway,
// a plain go-redis subscriber on the same channel, in this process, measures
// what Redis pub/sub alone takes in the same run.
//
// Before the load it reads the gateway's memory with no client and with
// every client connected and idle: VmRSS from /proc/PID/status, and Go heap
// plus stacks in use from the gateway's /metrics; then it makes the gateway
// collect garbage (by scraping /metrics until a GC ran) and reads the live
// heap.
//
// One op is one publish phase, after which every client must have every
// event exactly once and in order within fanoutDrain, else the benchmark
// fails; run it with -benchtime 1x. It skips without TEST_REDIS_URL.
func BenchmarkEventFanout(b *testing.B) {
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		b.Skip("TEST_REDIS_URL is unset: set it to a Redis URL (see .ci/run) to measure live event fan-out through Redis")
	}
	load := fanoutLoadFromEnv(b)
	// Each client is a socket here and one in the gateway, which inherits
	// the limit.
	raiseFileLimit(b, uint64(load.clients)+256)

	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		b.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := goredis.NewClient(opts)
	b.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Fatalf("redis at %s: %v", redisURL, err)
	}

	gw, dataDir := startFanoutGateway(b, redisURL)
	// The events are written into the gateway's database before they are
	// published, as another replica's would be: the gateway delivers what
	// its database holds, not what the bus says.
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(dataDir, sqlite.FileName)))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })

	// Phase 1: the gateway's memory with no client.
	time.Sleep(time.Second)
	before := readGatewayMemory(b, gw)
	beforeLive := readLiveMemory(b, gw)
	first := int64(before.metrics["ossa_event_last_id"]) + 1

	// Phase 2: connect and subscribe every client, then measure again.
	// Every client records the warm-up's events at the start of its
	// latencies and the measured ones after.
	total := b.N * load.events
	clients := connectFanoutClients(b, gw.url, load.clients, load.warmup+total, first)
	time.Sleep(2 * time.Second)
	idle := readGatewayMemory(b, gw)
	if n := idle.metrics["ossa_event_subscribers"]; n != float64(load.clients) {
		b.Fatalf("the gateway has %v event subscribers, want %d", n, load.clients)
	}
	idleLive := readLiveMemory(b, gw)
	perConn := func(after, before float64) float64 { return (after - before) / float64(load.clients) / 1024 }
	rssPerConn := perConn(float64(idle.rss), float64(before.rss))
	goPerConn := perConn(idle.goBytes(), before.goBytes())
	livePerConn := perConn(idleLive.liveBytes(), beforeLive.liveBytes())
	b.Logf("gateway, no client: VmRSS %.1f MiB; Go heap+stack in use %.1f MiB; after a GC, live heap+stack %.1f MiB; %v goroutines",
		mib(before.rss), before.goBytes()/(1<<20), beforeLive.liveBytes()/(1<<20), before.metrics["go_goroutines"])
	b.Logf("gateway, %d idle clients: VmRSS %.1f MiB; Go heap+stack in use %.1f MiB (heap %.1f, stacks %.1f); after a GC, live heap+stack %.1f MiB (heap %.1f); %v goroutines",
		load.clients, mib(idle.rss), idle.goBytes()/(1<<20),
		idle.metrics["go_memstats_heap_inuse_bytes"]/(1<<20), idle.metrics["go_memstats_stack_inuse_bytes"]/(1<<20),
		idleLive.liveBytes()/(1<<20), idleLive.metrics["go_memstats_heap_alloc_bytes"]/(1<<20), idle.metrics["go_goroutines"])
	b.Logf("per idle connection: VmRSS %.1f KiB; Go heap+stack in use %.1f KiB; live heap+stack after a GC %.1f KiB; %.2f goroutines",
		rssPerConn, goPerConn, livePerConn, (idle.metrics["go_goroutines"]-before.metrics["go_goroutines"])/float64(load.clients))

	// Phase 3: the raw Redis subscriber, then the load.
	agent := "bench-fanout-" + randomHex()
	raw := subscribeRaw(b, rdb, load.warmup+total, first, agent)
	progress := watchFanout(gw, clients)
	defer progress.stop()
	if load.warmup > 0 {
		if _, err := publishEvents(ctx, rdb, db, agent, load.rate, first, load.warmup); err != nil {
			b.Fatalf("publish: %v", err)
		}
		if err := waitDelivered(clients, raw, first+int64(load.warmup)-1, load.drain); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
		var warm []time.Duration
		for _, c := range clients {
			warm = append(warm, c.lat[:load.warmup]...)
		}
		slices.Sort(warm)
		b.Logf("warm-up, %d events at %d/s (not measured): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
			load.warmup, load.rate, percentile(warm, 50), percentile(warm, 99), percentile(warm, 100))
	}
	// The measured events: their IDs and their latencies.
	first += int64(load.warmup)
	measured := func(lat []time.Duration) []time.Duration { return lat[load.warmup:] }

	gwCPU0, selfCPU0, t0 := procCPU(gw.pid), processCPU(), time.Now()
	var published time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := first + int64(i*load.events)
		d, err := publishEvents(ctx, rdb, db, agent, load.rate, start, load.events)
		if err != nil {
			b.Fatalf("publish: %v", err)
		}
		published += d
		// Phase 4: every client and the raw subscriber get every event.
		if err := waitDelivered(clients, raw, start+int64(load.events)-1, load.drain); err != nil {
			gwCPU := procCPU(gw.pid) - gwCPU0
			b.Logf("gateway CPU %v over %v (%.2f CPUs); progress, per second since the first publish:\n%s",
				gwCPU.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), gwCPU.Seconds()/time.Since(t0).Seconds(), progress.stop())
			b.Fatal(err)
		}
	}
	b.StopTimer()
	elapsed := time.Since(t0)
	gwCPU, selfCPUUsed := procCPU(gw.pid)-gwCPU0, processCPU()-selfCPU0
	end := readGatewayMemory(b, gw)
	if n := end.metrics["ossa_event_subscribers_dropped_total"]; n != 0 {
		b.Fatalf("the gateway dropped %v subscribers as too slow", n)
	}

	// Phase 5: percentiles over every delivery, and per second of
	// publishing, which shows whether the tail is steady or a burst.
	perSecond := make([]string, 0, total/load.rate+1)
	for from := 0; from < total; from += load.rate {
		var window []time.Duration
		for _, c := range clients {
			window = append(window, measured(c.lat)[from:min(from+load.rate, total)]...)
		}
		slices.Sort(window)
		perSecond = append(perSecond, fmt.Sprintf("%.0f/%.0f", percentile(window, 50), percentile(window, 99)))
	}
	b.Logf("p50/p99 ms per second of publishing: %s", strings.Join(perSecond, " "))
	all := make([]time.Duration, 0, load.clients*total)
	for _, c := range clients {
		all = append(all, measured(c.lat)...)
	}
	rawLat := measured(raw.lat)
	slices.Sort(all)
	slices.Sort(rawLat)
	b.ReportMetric(percentile(all, 50), "p50-ms")
	b.ReportMetric(percentile(all, 99), "p99-ms")
	b.ReportMetric(percentile(all, 100), "max-ms")
	b.ReportMetric(percentile(rawLat, 50), "redis-p50-ms")
	b.ReportMetric(percentile(rawLat, 99), "redis-p99-ms")
	b.ReportMetric(percentile(rawLat, 100), "redis-max-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64(total)/published.Seconds(), "published/s")
	b.ReportMetric(rssPerConn, "idle-KiB/conn")
	b.ReportMetric(goPerConn, "idle-go-KiB/conn")
	b.ReportMetric(livePerConn, "idle-live-KiB/conn")
	b.ReportMetric(gwCPU.Seconds()/elapsed.Seconds(), "gateway-cpus")
	b.ReportMetric(selfCPUUsed.Seconds()/elapsed.Seconds(), "bench-cpus")
	b.Logf("%d clients, %d events in %v (%.0f/s), %d deliveries in %v; gateway CPU %v (%.1f µs per delivery), benchmark process CPU %v; gateway VmRSS after the load %.1f MiB",
		load.clients, total, published.Round(time.Millisecond), float64(total)/published.Seconds(), len(all), elapsed.Round(time.Millisecond),
		gwCPU.Round(time.Millisecond), float64(gwCPU.Microseconds())/float64(len(all)), selfCPUUsed.Round(time.Millisecond),
		mib(end.rss))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// raiseFileLimit raises this process's soft limit of open files to at least
// n, up to the hard limit; processes started later inherit it.
func raiseFileLimit(b *testing.B, n uint64) {
	b.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		b.Skipf("the open-file limit is %d, below the %d this benchmark needs: raise it (ulimit -Hn)", lim.Max, n)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
}

// startFanoutGateway starts the gateway with REDIS_URL set and the
// benchmark's Redis prefix, and returns it with its data directory.
func startFanoutGateway(b *testing.B, redisURL string) (gatewayProcess, string) {
	b.Helper()
	dir := b.TempDir()
	return startGatewayProcess(b, "REDIS_URL="+redisURL, "OSSA_REDIS_PREFIX="+fanoutPrefix, "OSSA_DATA_DIR="+dir), dir
}

// gatewayMemory is one reading of the gateway's memory.
type gatewayMemory struct {
	rss     int64              // VmRSS, bytes
	metrics map[string]float64 // the gateway's /metrics, series without labels
}

// goBytes is the Go heap and goroutine stacks in use.
func (m gatewayMemory) goBytes() float64 {
	return m.metrics["go_memstats_heap_inuse_bytes"] + m.metrics["go_memstats_stack_inuse_bytes"]
}

// liveBytes is the Go heap allocated and the goroutine stacks in use, which
// right after a GC is what is live.
func (m gatewayMemory) liveBytes() float64 {
	return m.metrics["go_memstats_heap_alloc_bytes"] + m.metrics["go_memstats_stack_inuse_bytes"]
}

// readGatewayMemory reads the gateway's VmRSS and its /metrics.
func readGatewayMemory(b *testing.B, gw gatewayProcess) gatewayMemory {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", gw.pid))
	if err != nil {
		b.Fatal(err)
	}
	m := gatewayMemory{metrics: scrapeMetrics(b, gw.url)}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS: %q: %v", line, err)
			}
			m.rss = kb * 1024
		}
	}
	for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "ossa_event_last_id"} {
		if _, ok := m.metrics[name]; !ok {
			b.Fatalf("the gateway's /metrics has no %s", name)
		}
	}
	return m
}

// readLiveMemory makes the gateway collect garbage, which it cannot be asked
// to do, by scraping its /metrics (each scrape allocates) until its GC count
// goes up, then gives its background sweeper a second to free what the GC
// found dead, and returns the reading taken then.
func readLiveMemory(b *testing.B, gw gatewayProcess) gatewayMemory {
	b.Helper()
	gcs := scrapeMetrics(b, gw.url)["go_gc_duration_seconds_count"]
	for deadline := time.Now().Add(30 * time.Second); ; {
		if scrapeMetrics(b, gw.url)["go_gc_duration_seconds_count"] > gcs {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the gateway did not collect garbage in 30 s of scraping its /metrics")
		}
	}
	time.Sleep(time.Second)
	return readGatewayMemory(b, gw)
}

// scrapeMetrics returns the series without labels of the /metrics of the
// gateway at url.
func scrapeMetrics(b *testing.B, url string) map[string]float64 {
	b.Helper()
	m, err := scrape(url)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}

// fanoutProgress samples, every second, how far the gateway's hub and the
// clients have got.
type fanoutProgress struct {
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	report strings.Builder
}

func watchFanout(gw gatewayProcess, clients []*fanoutClient) *fanoutProgress {
	p := &fanoutProgress{done: make(chan struct{})}
	start := time.Now()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			var received int64
			for _, c := range clients {
				received += c.next.Load() - c.first
			}
			m, err := scrape(gw.url)
			p.mu.Lock()
			if err != nil {
				fmt.Fprintf(&p.report, "%5.1fs: %v\n", time.Since(start).Seconds(), err)
			} else {
				fmt.Fprintf(&p.report, "%5.1fs: hub at event %.0f, %.0f deliveries queued by the hub, %d received by the clients, gateway heap in use %.0f MiB\n",
					time.Since(start).Seconds(), m["ossa_event_last_id"], m["ossa_events_delivered_total"], received, m["go_memstats_heap_inuse_bytes"]/(1<<20))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// stop ends the sampling and returns what it saw.
func (p *fanoutProgress) stop() string {
	p.once.Do(func() { close(p.done) })
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.report.String()
}

func randomHex() string {
	p := make([]byte, 6)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// fanoutClient is one WebSocket subscriber. It checks that event IDs
// arrive consecutively from first on and records each event's latency at
// lat[id-first]. After the handshake, a fanoutPoller reads its socket.
type fanoutClient struct {
	file *os.File // the socket, once subscribed
	fd   int
	// pending is what was read of a frame that has not arrived whole.
	pending []byte
	first   int64
	lat     []time.Duration
	// next is the next event ID expected; its poller stores it after each
	// event.
	next atomic.Int64
	err  atomic.Pointer[error]
}

// connectFanoutClients opens n WebSocket connections to the gateway, 32 at
// a time, subscribes each to agent-events and returns once every one is
// subscribed and polled. They are closed when b ends.
func connectFanoutClients(b *testing.B, gatewayURL string, n, events int, first int64) []*fanoutClient {
	b.Helper()
	wsURL := "ws" + strings.TrimPrefix(gatewayURL, "http") + "/ws"
	clients := make([]*fanoutClient, n)
	b.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.file.Close()
			}
		}
	})
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, 32)
	)
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				c, err := dialFanoutClient(wsURL, events, first)
				if err != nil {
					errs[w] = fmt.Errorf("client %d: %w", i, err)
					return
				}
				clients[i] = c
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	// One poller per CPU; each owns a share of the clients.
	pollers := make([]*fanoutPoller, runtime.GOMAXPROCS(0))
	for i := range pollers {
		p, err := newFanoutPoller()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.stop) // runs before the connections close
		pollers[i] = p
	}
	for i, c := range clients {
		if err := pollers[i%len(pollers)].add(c); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range pollers {
		go p.run()
	}
	return clients
}

// dialFanoutClient connects to the gateway's /ws and subscribes to
// agent-events. It speaks WebSocket by hand, as little of it as the
// benchmark needs (RFC 6455: the handshake, one masked text frame out,
// unmasked text frames in), so that its 1,000 clients, which share the
// machine with the gateway, spend as little CPU as a client can.
func dialFanoutClient(wsURL string, events int, first int64) (*fanoutClient, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 30*time.Second)
	if err != nil {
		return nil, err
	}
	fc := &fanoutClient{first: first, lat: make([]time.Duration, events)}
	fc.next.Store(first)
	fail := func(err error) (*fanoutClient, error) { conn.Close(); return nil, err }
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", u.Path, u.Host, base64.StdEncoding.EncodeToString(key)); err != nil {
		return fail(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return fail(fmt.Errorf("upgrade: %v %v", resp, err))
	}
	fc.pending, _ = br.Peek(br.Buffered())
	fc.pending = slices.Clone(fc.pending)
	// One masked text frame: the subscription.
	msg := []byte(`{"type":"subscribe","channel":"agent-events"}`)
	frame := append([]byte{0x81, 0x80 | byte(len(msg)), 1, 2, 3, 4}, msg...)
	for i := range msg {
		frame[6+i] ^= frame[2+i%4]
	}
	if _, err := conn.Write(frame); err != nil {
		return fail(err)
	}
	// The answer, read through the same frame parser as the events.
	tmp := make([]byte, 4096)
	for {
		op, _, payload, n := nextFrame(fc.pending)
		if n > 0 {
			if op != 0x1 || !bytes.HasPrefix(payload, []byte(`{"type":"subscribed","channel":"agent-events"`)) {
				return fail(fmt.Errorf("want subscribed, got opcode %d: %s", op, payload))
			}
			fc.pending = append(fc.pending[:0], fc.pending[n:]...)
			break
		}
		m, err := conn.Read(tmp)
		if err != nil {
			return fail(fmt.Errorf("want subscribed: %w", err))
		}
		fc.pending = append(fc.pending, tmp[:m]...)
	}
	// From here a poller reads the socket, through a descriptor of its
	// own: closing conn takes the socket out of Go's netpoller, which
	// would otherwise wake up for every batch too.
	f, err := conn.(*net.TCPConn).File()
	conn.Close()
	if err != nil {
		return nil, err
	}
	fc.file, fc.fd = f, int(f.Fd())
	if err := syscall.SetNonblock(fc.fd, true); err != nil {
		f.Close()
		return nil, err
	}
	return fc, nil
}

// nextFrame parses the unmasked WebSocket frame (RFC 6455, 5.2) that b
// starts with: its opcode, whether it is a message's last, its payload and
// its length in b, which is 0 when b does not hold the whole frame.
func nextFrame(b []byte) (op byte, fin bool, payload []byte, n int) {
	if len(b) < 2 {
		return 0, false, nil, 0
	}
	size, header := int(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, false, nil, 0
		}
		size, header = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, false, nil, 0
		}
		size, header = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b)-header < size {
		return 0, false, nil, 0
	}
	return b[0] & 0x0f, b[0]&0x80 != 0, b[header : header+size], header + size
}

// fanoutPoller reads its clients' sockets from one goroutine: an epoll
// set, one read(2) of everything waiting per ready socket, and every whole
// frame in it parsed in place. A goroutine per client (Go's net.Conn) reads
// twice per batch the gateway sends (the data, then EAGAIN before parking),
// and the clients share the two vCPUs with the gateway, so the fewer system
// calls they make, the less they take from what is measured.
type fanoutPoller struct {
	epfd    int
	clients map[int32]*fanoutClient // by file descriptor
	done    atomic.Bool
	exited  chan struct{}
}

func newFanoutPoller() (*fanoutPoller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &fanoutPoller{epfd: epfd, clients: map[int32]*fanoutClient{}, exited: make(chan struct{})}, nil
}

// add polls c's socket; it is called before run.
func (p *fanoutPoller) add(c *fanoutClient) error {
	p.clients[int32(c.fd)] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// run reads until stop. Latency is taken when a read returns: every
// message in that read arrived together.
func (p *fanoutPoller) run() {
	defer close(p.exited)
	ready := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 256<<10)
	for !p.done.Load() {
		n, err := syscall.EpollWait(p.epfd, ready, 50)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			for _, c := range p.clients {
				c.fail(fmt.Errorf("epoll_wait: %w", err))
			}
			return
		}
		for _, ev := range ready[:n] {
			c := p.clients[ev.Fd]
			if err := c.poll(buf); err != nil {
				c.fail(err)
				_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
				delete(p.clients, ev.Fd)
			}
		}
		if n > 0 && n < len(ready) {
			// Let more sockets become ready before asking again, so that
			// one epoll_wait collects many: the gateway writes its
			// clients one after another, and asking after each costs a
			// system call and a wake-up per batch. Every latency measured
			// includes this pause.
			time.Sleep(fanoutPollPause)
		}
	}
}

// fanoutPollPause is how long a poller waits between collecting ready
// sockets while events flow.
const fanoutPollPause = 500 * time.Microsecond

// stop ends run and waits for it.
func (p *fanoutPoller) stop() {
	if p.done.CompareAndSwap(false, true) {
		<-p.exited
		syscall.Close(p.epfd)
	}
}

// poll reads what waits on c's socket into buf, after what was pending, and
// handles every whole frame.
func (c *fanoutClient) poll(buf []byte) error {
	k := copy(buf, c.pending)
	if k == len(buf) {
		return fmt.Errorf("after event %d, a frame larger than %d bytes", c.next.Load()-1, len(buf))
	}
	m, err := syscall.Read(c.fd, buf[k:])
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return nil
	case err != nil:
		return fmt.Errorf("after event %d: read: %w", c.next.Load()-1, err)
	case m == 0:
		return fmt.Errorf("after event %d: the gateway closed the connection", c.next.Load()-1)
	}
	now := time.Now()
	b := buf[:k+m]
	for {
		op, fin, payload, n := nextFrame(b)
		if n == 0 {
			break
		}
		b = b[n:]
		switch op {
		case 0x1: // text; the gateway sends each message as one frame
			if !fin {
				return errors.New("fragmented message")
			}
			if err := c.event(payload, now); err != nil {
				return err
			}
		case 0x9: // ping: answer with a masked pong (zero mask)
			pong := append([]byte{0x8a, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
			if _, err := syscall.Write(c.fd, pong); err != nil {
				return err
			}
		case 0x8:
			return fmt.Errorf("after event %d: closed by the gateway: %q", c.next.Load()-1, payload)
		}
	}
	c.pending = append(c.pending[:0], b...)
	return nil
}

func (c *fanoutClient) fail(err error) {
	if int(c.next.Load()-c.first) < len(c.lat) {
		c.err.CompareAndSwap(nil, &err)
	}
}

// event checks that msg is the next event and records its latency. It
// parses only what it needs, so that the client takes little of the CPU it
// shares with the gateway.
func (c *fanoutClient) event(msg []byte, now time.Time) error {
	next := c.next.Load()
	if !bytes.HasPrefix(msg, wsEventPrefix) {
		return fmt.Errorf("after event %d, not an agent-events event: %.200s", next-1, msg)
	}
	id, sent, err := parseFanoutEvent(msg[len(wsEventPrefix):])
	if err != nil {
		return fmt.Errorf("after event %d: %v: %.200s", next-1, err, msg)
	}
	if id != next || int(id-c.first) >= len(c.lat) {
		return fmt.Errorf("got event %d, want %d (is another process publishing on %s?)", id, next, fanoutChannel)
	}
	c.lat[id-c.first] = now.Sub(time.Unix(0, sent))
	c.next.Store(next + 1)
	return nil
}

// wsEventPrefix is how the gateway's event messages on agent-events start
// (WSMessage's fields in order); the event's ID follows it.
var wsEventPrefix = []byte(`{"type":"event","channel":"agent-events","event":{"id":`)

// parseFanoutEvent reads the ID that msg starts with and the sent_ns that
// ends its data: the benchmark's events end with `"sent_ns":N}}` (and the
// WebSocket message with one more brace, the Redis message with a bracket).
func parseFanoutEvent(msg []byte) (id, sent int64, err error) {
	id, rest := leadingInt(msg)
	if len(rest) == len(msg) || len(rest) == 0 || rest[0] != ',' {
		return 0, 0, errors.New("no event ID")
	}
	end := len(msg)
	for end > 0 && (msg[end-1] == '}' || msg[end-1] == ']') {
		end--
	}
	start := end
	for start > 0 && msg[start-1] >= '0' && msg[start-1] <= '9' {
		start--
	}
	if start == end || !bytes.HasSuffix(msg[:start], []byte(`"sent_ns":`)) {
		return 0, 0, errors.New("no sent_ns at the end")
	}
	sent, _ = leadingInt(msg[start:end])
	return id, sent, nil
}

// leadingInt reads the decimal digits b starts with.
func leadingInt(b []byte) (int64, []byte) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, b[i:]
}

// rawSubscriber is a plain go-redis subscriber on the gateway's channel.
type rawSubscriber struct {
	first int64
	lat   []time.Duration
	next  atomic.Int64
	err   atomic.Pointer[error]
}

// subscribeRaw subscribes to fanoutChannel and records the latency of each
// of the benchmark's events (those of agent) until b ends.
func subscribeRaw(b *testing.B, rdb *goredis.Client, events int, first int64, agent string) *rawSubscriber {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.Subscribe(ctx, fanoutChannel)
	if _, err := ps.Receive(ctx); err != nil {
		b.Fatalf("subscribe to %s: %v", fanoutChannel, err)
	}
	rs := &rawSubscriber{first: first, lat: make([]time.Duration, events)}
	rs.next.Store(first)
	done := make(chan struct{})
	b.Cleanup(func() {
		cancel()
		ps.Close()
		<-done
	})
	prefix := []byte(`[{"id":`)
	mine := []byte(`"agent":"` + agent + `"`)
	go func() {
		defer close(done)
		next := first
		fail := func(err error) { rs.err.Store(&err) }
		for {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			now := time.Now()
			msg := []byte(m.Payload)
			if !bytes.HasPrefix(msg, prefix) || !bytes.Contains(msg, mine) {
				fail(fmt.Errorf("another process publishes on %s: %.200s", fanoutChannel, msg))
				return
			}
			id, sent, err := parseFanoutEvent(msg[len(prefix):])
			if err != nil {
				fail(fmt.Errorf("%v: %.200s", err, msg))
				return
			}
			if id != next || int(id-first) >= len(rs.lat) {
				fail(fmt.Errorf("got event %d, want %d", id, next))
				return
			}
			rs.lat[id-first] = now.Sub(time.Unix(0, sent))
			next++
			rs.next.Store(next)
		}
	}()
	return rs
}

// publishEvents publishes n agent.updated events of agent, with IDs from
// first on, each in a Redis message of its own, at rate a second: event i is
// due i/rate after the first, and one that is late goes at once, so
// that the rate holds on average. Each is first committed to the gateway's
// database db, sequenced, as a replica sharing the database would commit
// it, so its time (sent_ns) is taken before that write. It returns the time
// from the first publish to the last.
func publishEvents(ctx context.Context, rdb *goredis.Client, db *sql.DB, agent string, rate int, first int64, n int) (time.Duration, error) {
	interval := time.Second / time.Duration(rate)
	msg, data := make([]byte, 0, 256), make([]byte, 0, 128)
	start := time.Now()
	var last time.Time
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		last = time.Now()
		id := first + int64(i)
		data = append(data[:0], `{"name":"`...)
		data = append(data, agent...)
		data = append(data, `","sent_ns":`...)
		data = strconv.AppendInt(data, last.UnixNano(), 10)
		data = append(data, '}')
		if err := writeEvent(ctx, db, id, last, agent, data); err != nil {
			return 0, err
		}
		msg = append(msg[:0], `[{"id":`...)
		msg = strconv.AppendInt(msg, id, 10)
		msg = append(msg, `,"type":"agent.updated","time":"`...)
		msg = last.UTC().AppendFormat(msg, time.RFC3339Nano)
		msg = append(msg, `","agent":"`...)
		msg = append(msg, agent...)
		msg = append(msg, `","data":`...)
		msg = append(msg, data...)
		msg = append(msg, "}]"...)
		if err := rdb.Publish(ctx, fanoutChannel, msg).Err(); err != nil {
			return 0, err
		}
	}
	return last.Sub(start), nil
}

// writeEvent commits one sequenced agent.updated event to the gateway's
// SQLite database, as SequenceEvents leaves it: the row with its ID, and
// the sequence at that ID.
func writeEvent(ctx context.Context, db *sql.DB, id int64, at time.Time, agent string, data []byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, time, stream, agent, data) VALUES (?, 'agent.updated', ?, 'agent', ?, ?)`,
		id, at.UnixMicro(), agent, string(data)); err != nil {
		return fmt.Errorf("write event %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE event_sequence SET last = ?`, id); err != nil {
		return fmt.Errorf("sequence event %d: %w", id, err)
	}
	return tx.Commit()
}

// waitDelivered waits until every client and the raw subscriber have every
// event up to last, and fails at the first error one of them met or after
// timeout, saying how many deliveries are missing.
func waitDelivered(clients []*fanoutClient, raw *rawSubscriber, last int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p := raw.err.Load(); p != nil {
			return fmt.Errorf("raw redis subscriber: %w", *p)
		}
		missing, behind := last+1-raw.next.Load(), 0
		for i, c := range clients {
			if p := c.err.Load(); p != nil {
				return fmt.Errorf("client %d: %w", i, *p)
			}
			if m := last + 1 - c.next.Load(); m > 0 {
				missing += m
				behind++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v after the last publish, %d deliveries are missing (%d of %d clients behind; raw subscriber at %d of %d)",
				timeout, missing, behind, len(clients), raw.next.Load()-1, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
