package inmem_test

import (
	"testing"

	"github.com/ossa-platform/platform"
	"github.com/ossa-platform/platform/inmem"
	"github.com/ossa-platform/platform/storetest"
)

func TestRateLimiterSuite(t *testing.T) {
	storetest.RunRateLimiter(t, func(t *testing.T, perMinute int) platform.RateLimiter {
		return inmem.NewRateLimiter(perMinute)
	})
}
