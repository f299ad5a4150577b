package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
)

// TestDeploymentsShareOneRedis runs two deployments, each a gateway with
// its own embedded database, on one Redis server: on databases 1 and 2
// with the default prefixes, on one database with a prefix each, and, as a
// misconfiguration, on one channel. Each deployment's clients see only its
// own events, and (but for the last) a raw Redis subscriber sees each
// deployment publish on a channel of its own.
func TestDeploymentsShareOneRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	withDB := func(db string) string {
		u, err := url.Parse(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + db
		return u.String()
	}
	random := "ossa-test:" + testenv.RandomName()
	for _, tc := range []struct {
		name               string
		urlA, urlB         string
		prefixA, prefixB   string
		channelA, channelB string
	}{
		{"Databases", withDB("1"), withDB("2"), "", "", "ossa:1:events", "ossa:2:events"},
		{"Prefixes", redisURL, redisURL, random + ":a:", random + ":b:", random + ":a:events", random + ":b:events"},
		// Both on one channel: the store, not the bus, says what happened.
		{"OneChannel", redisURL, redisURL, random + ":same:", random + ":same:", random + ":same:events", random + ":same:events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			opts, err := goredis.ParseURL(redisURL)
			if err != nil {
				t.Fatal(err)
			}
			raw := goredis.NewClient(opts)
			defer raw.Close()
			ps := raw.Subscribe(ctx, tc.channelA, tc.channelB)
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}

			start := func(redisURL, prefix string) *Main {
				c := newConfig(t)
				c.RedisURL, c.RedisPrefix = redisURL, prefix
				c.EventPollInterval = time.Hour // what the other replicas say comes by Redis only
				return openMain(t, c)
			}
			a, b := start(tc.urlA, tc.prefixA), start(tc.urlB, tc.prefixB)
			onA, onB := watch(t, a.Server.URL(), "agent-events"), watch(t, b.Server.URL(), "agent-events")
			alpha, beta := "alpha-"+testenv.RandomName(), "beta-"+testenv.RandomName()
			name := func(e *platform.Event) string { return dataField(e, "name") }
			registerAgent(t, a.Server.URL(), alpha, "http://127.0.0.1:1")
			registerAgent(t, b.Server.URL(), beta, "http://127.0.0.1:1")
			registerAgent(t, a.Server.URL(), alpha+"-2", "http://127.0.0.1:1")
			registerAgent(t, b.Server.URL(), beta+"-2", "http://127.0.0.1:1")
			for _, w := range []struct {
				watch      *wsWatch
				mine, last string
			}{{onA, alpha, alpha + "-2"}, {onB, beta, beta + "-2"}} {
				got := w.watch.until(t, 10*time.Second, func(e *platform.Event) bool { return name(e) == w.last })
				if len(got) != 2 || name(got[0]) != w.mine || got[0].ID != 1 || got[1].ID != 2 {
					t.Fatalf("the deployment of %s saw %s: %s", w.mine, eventTypes(got), names(got, name))
				}
			}
			onA.quiet(t, 200*time.Millisecond)
			onB.quiet(t, 200*time.Millisecond)

			// Where each deployment published, seen by a raw subscriber.
			heard := map[string]string{} // agent name: channel
			for deadline := time.After(10 * time.Second); len(heard) < 4; {
				select {
				case m := <-ps.Channel():
					for _, n := range []string{alpha, beta} {
						for _, full := range []string{n, n + "-2"} {
							if strings.Contains(m.Payload, `"name":"`+full+`"`) {
								heard[full] = m.Channel
							}
						}
					}
				case <-deadline:
					t.Fatalf("the raw subscriber heard %v", heard)
				}
			}
			if heard[alpha] != tc.channelA || heard[alpha+"-2"] != tc.channelA || heard[beta] != tc.channelB || heard[beta+"-2"] != tc.channelB {
				t.Fatalf("published on %v, want %s's events on %s and %s's on %s", heard, alpha, tc.channelA, beta, tc.channelB)
			}
			if tc.channelA == tc.channelB {
				// B hears A announce event 3, which B's store does not
				// have: counted, not delivered.
				registerAgent(t, a.Server.URL(), alpha+"-3", "http://127.0.0.1:1")
				onA.until(t, 10*time.Second, func(e *platform.Event) bool { return name(e) == alpha+"-3" })
				for deadline := time.Now().Add(10 * time.Second); b.Hub.Metrics().Unconfirmed < 1; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("B's metrics %+v: A's event 3 not counted as unconfirmed", b.Hub.Metrics())
					}
				}
				onB.quiet(t, 200*time.Millisecond)
				if m := b.Hub.Metrics(); m.Last != 2 {
					t.Fatalf("B moved to %d on A's announcement", m.Last)
				}
				if v := metric(t, b.Server.URL(), "ossa_event_bus_unconfirmed_total"); v < 1 {
					t.Fatalf("B's ossa_event_bus_unconfirmed_total is %v", v)
				}
			}
		})
	}
}

func names(es []*platform.Event, name func(*platform.Event) string) string {
	var s []string
	for _, e := range es {
		s = append(s, name(e))
	}
	return strings.Join(s, ",")
}

// metric reads one series without labels from gw's /metrics.
func metric(t *testing.T, gw, name string) float64 {
	t.Helper()
	resp, err := http.Get(gw + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}
