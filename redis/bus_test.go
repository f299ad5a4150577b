package redis_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	neturl "net/url"
	"strconv"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/storetest"
)

func TestBus(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RandomName()
	storetest.RunBus(t, func(t *testing.T, key string) platform.EventBus {
		sum := sha256.Sum256([]byte(key))
		c, err := redis.Open(url, redis.WithPrefix("ossa-test:"+prefix+":"+hex.EncodeToString(sum[:6])+":"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.Bus(slog.New(slog.DiscardHandler))
	})
}

// withDB is url with its database number set to db.
func withDB(t *testing.T, url string, db int) string {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

// TestBusDatabasesDoNotMeet: Redis pub/sub ignores the database number, so
// the default channel carries it: buses on databases 1 and 2 of one server,
// without a prefix set, do not hear each other.
func TestBusDatabasesDoNotMeet(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	open := func(db int) *redis.Bus {
		c, err := redis.Open(withDB(t, url, db))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.Bus(slog.New(slog.DiscardHandler))
	}
	one, two := open(1), open(2)
	if one.Channel() != "ossa:1:events" || two.Channel() != "ossa:2:events" {
		t.Fatalf("channels %q and %q", one.Channel(), two.Channel())
	}
	lives, batches := subscription(t, two)
	awaitLive(t, lives)
	// IDs of this test's own: other tests may publish on these channels.
	event, marker := rand.Int64N(1<<50)+1<<50, rand.Int64N(1<<50)+1<<51
	if err := one.Publish(context.Background(), []platform.Event{{ID: event, Type: "agent.registered"}}); err != nil {
		t.Fatal(err)
	}
	if err := two.Publish(context.Background(), []platform.Event{{ID: marker, Type: "agent.registered"}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.After(10 * time.Second); ; {
		select {
		case b := <-batches:
			for _, e := range b {
				if e.ID == event {
					t.Fatal("the bus on database 2 heard what was published on database 1")
				}
				if e.ID == marker {
					return
				}
			}
		case <-deadline:
			t.Fatal("the bus on database 2 did not hear its own event")
		}
	}
}
