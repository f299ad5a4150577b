package redis_test

import (
	"log/slog"
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/internal/testenv"
	"github.com/ossa-platform/platform/redis"
	"github.com/ossa-platform/platform/storetest"
)

func TestBus(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RandomName()
	storetest.RunBus(t, func(t *testing.T, key string) platform.EventBus {
		c, err := redis.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.Bus("ossa-test:"+prefix+":"+key, slog.New(slog.DiscardHandler))
	})
}
