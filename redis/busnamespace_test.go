package redis_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/redis"
)

// TestBusNamespaceOnTheWire: the bus carries an event's namespace as the
// member "namespace", and a message without it (from a replica from
// before namespaces) still reads, as events of no namespace.
func TestBusNamespaceOnTheWire(t *testing.T) {
	t.Parallel()
	c, err := redis.Open(testenv.RedisURL(t), redis.WithPrefix("ossa-test:"+testenv.RandomName()+":"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bus := c.Bus(slog.New(slog.DiscardHandler))
	ctx := context.Background()

	// What Publish sends, as another replica's raw subscriber reads it.
	raw := c.Subscribe(ctx, bus.Channel())
	t.Cleanup(func() { raw.Close() })
	if _, err := raw.ReceiveTimeout(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 1, 2, 3, 4000, time.UTC)
	if err := bus.Publish(ctx, []platform.Event{{ID: 1, Type: "agent.registered", Time: at, Agent: "scout",
		Namespace: "team-a", Data: json.RawMessage(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	msg, err := raw.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wire []map[string]any
	if err := json.Unmarshal([]byte(msg.Payload), &wire); err != nil || len(wire) != 1 || wire[0]["namespace"] != "team-a" {
		t.Fatalf("published %s (%v), want one event with namespace team-a", msg.Payload, err)
	}

	lives, batches := subscription(t, bus)
	awaitLive(t, lives)
	old := `[{"id":2,"type":"agent.registered","time":"2026-11-26T01:02:03.000004Z","agent":"scout","data":{}}]`
	if err := c.Publish(ctx, bus.Channel(), old).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-batches:
		if len(b) != 1 || b[0].ID != 2 || b[0].Agent != "scout" || b[0].Namespace != "" || !b[0].Time.Equal(at) {
			t.Fatalf("a message without namespaces read as %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message without namespaces never arrived")
	}
}
